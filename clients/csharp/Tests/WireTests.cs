// The hand-written protobuf: varints, canonical encoding, skipping unknown fields
// of every wire type, and the worked example of docs/protocol.md byte for byte.
// (The suite in tests/integration/test_csharp_client.py also checks these
// encoders against vectors the Python server's own encoders produce.)
using System.Collections.Generic;
using NUnit.Framework;
using Tickcast.Protocol;

namespace Tickcast.Tests
{
    [TestFixture]
    public class WireTests
    {
        // docs/protocol.md, "Worked example, byte by byte" (frames with their length prefix)
        const string HelloFrame = "10 0a 0e 08 01 12 03 61 64 61 22 05 61 72 65 6e 61";
        const string InputFrame = "07 12 05 08 07 12 01 4c";
        const string WelcomeFrame = "28 0a 26 0a 05 61 72 65 6e 61 10 03 18 1e 20 82 01 2a 07 08 01 12 03 61 64 61"
            + " 2a 07 08 02 12 03 62 6f 62 3a 04 65 75 2d 31";
        const string Chain130 = "9f98e6ef696db66443dbcd772aea37d3bb2602599fc125c71d8820559b6a739d";
        const string TickFrame = "44 12 42 08 82 01 12 07 08 01 10 07 1a 01 4c 12 0a 08 02 10 04 1a 04 6a 75 6d 70"
            + " 1a 06 08 03 12 02 63 79 2a 20 " + Chain130;

        static byte[] Body(string frame)
        {
            var frames = new List<byte[]>();
            var bytes = Hex.Parse(frame);
            var framer = new Framer();
            framer.Feed(bytes, 0, bytes.Length, frames);
            Assert.AreEqual(1, frames.Count);
            Assert.AreEqual(0, framer.Buffered);
            return frames[0];
        }

        /// <summary>A length-delimited field: key, varint length, content.</summary>
        static byte[] Field(int number, byte[] content)
        {
            var w = new ProtoWriter();
            w.WriteTag(number, WireType.LengthDelimited);
            w.WriteVarint((ulong)content.Length);
            w.WriteRawBytes(content, 0, content.Length);
            return w.ToArray();
        }

        [Test]
        public void VarintsTakeSevenBitsPerByteLeastSignificantFirst()
        {
            var cases = new Dictionary<ulong, string>
            {
                { 0, "00" }, { 1, "01" }, { 127, "7f" }, { 128, "8001" }, { 130, "8201" }, { 300, "ac02" },
                { 16383, "ff7f" }, { 16384, "808001" }, { uint.MaxValue, "ffffffff0f" },
                { ulong.MaxValue, "ffffffffffffffffff01" },
            };
            foreach (var c in cases)
            {
                var w = new ProtoWriter();
                w.WriteVarint(c.Key);
                Assert.AreEqual(c.Value, Hex.Of(w.ToArray()), "varint " + c.Key);
                Assert.AreEqual(c.Value.Length / 2, Varint.Size(c.Key));
                var bytes = Hex.Parse(c.Value);
                var r = new ProtoReader(bytes, 0, bytes.Length);
                Assert.AreEqual(c.Key, r.ReadVarint());
                Assert.IsTrue(r.Done);
            }
        }

        [Test]
        public void TheWorkedHelloAndInputAreWhatTheEncoderEmits()
        {
            var hello = new ClientMessage { Hello = new Hello { ProtocolVersion = 1, PlayerId = "ada", Room = "arena" } };
            Assert.AreEqual(Hex.Of(Hex.Parse(HelloFrame)), Hex.Of(Framing.Frame(hello.Encode())));
            var input = new ClientMessage { Input = new Input { Seq = 7, Payload = Hex.Utf8("L") } };
            Assert.AreEqual(Hex.Of(Hex.Parse(InputFrame)), Hex.Of(Framing.Frame(input.Encode())));
            var core = new ClientCore("ada", "arena");
            Assert.AreEqual(Hex.Of(Body(HelloFrame)), Hex.Of(core.HelloMessage()));
        }

        [Test]
        public void TheWorkedWelcomeDecodesAndEncodesBack()
        {
            var body = Body(WelcomeFrame);
            var msg = ServerMessage.Decode(body);
            Assert.AreEqual(ServerBody.Welcome, msg.Body);
            var w = msg.Welcome;
            Assert.AreEqual("arena", w.Room);
            Assert.AreEqual(3, w.Slot);
            Assert.AreEqual(30, w.TickRate);
            Assert.AreEqual(130, w.FirstTick);
            Assert.AreEqual(2, w.Members.Count);
            Assert.AreEqual("ada", w.Members[0].PlayerId);
            Assert.AreEqual(2, w.Members[1].Slot);
            Assert.AreEqual(0, w.LastSeq);
            Assert.AreEqual("eu-1", w.ServerId);
            Assert.AreEqual(Hex.Of(body), Hex.Of(msg.Encode()));
        }

        [Test]
        public void TheWorkedTickDecodesWithItsRawBytesAndEncodesBack()
        {
            var body = Body(TickFrame);
            var msg = ServerMessage.Decode(body);
            Assert.AreEqual(ServerBody.Tick, msg.Body);
            var t = msg.Tick;
            Assert.AreEqual(130, t.Number);
            Assert.AreEqual(2, t.Inputs.Count);
            Assert.AreEqual(1, t.Inputs[0].Slot);
            Assert.AreEqual(7, t.Inputs[0].Seq);
            Assert.AreEqual(Hex.Utf8("L"), t.Inputs[0].Payload);
            Assert.AreEqual(Hex.Utf8("jump"), t.Inputs[1].Payload);
            Assert.AreEqual("cy", t.Joined[0].PlayerId);
            Assert.AreEqual(0, t.Left.Count);
            Assert.AreEqual(Chain130, Hex.Of(t.Chain));
            // the raw Tick is the body after ServerMessage's key and length (12 42)
            Assert.AreEqual(body.Length - 2, msg.TickBytes.Count);
            Assert.AreEqual(2, msg.TickBytes.Offset);
            Assert.AreEqual(Hex.Of(body), Hex.Of(msg.Encode()));
        }

        [Test]
        public void DefaultsAreOmittedAndEmptyMessagesInTheOneofAreKept()
        {
            Assert.AreEqual("2a00", Hex.Of(new ClientMessage { Leave = new Leave() }.Encode()));
            Assert.AreEqual("1a00", Hex.Of(new ClientMessage { Ping = new Ping() }.Encode()));
            Assert.AreEqual("", Hex.Of(new ClientMessage().Encode()));
            // an input with no payload: seq only (as the Python SDK's hand encoder)
            Assert.AreEqual("12020801", Hex.Of(new ClientMessage { Input = new Input { Seq = 1 } }.Encode()));
            // a negative enum value is a 10-byte varint
            var kick = new ServerMessage { Kick = new Kick { Reason = (KickReason)(-1) } };
            Assert.AreEqual("220b08ffffffffffffffffff01", Hex.Of(kick.Encode()));
            Assert.AreEqual((KickReason)(-1), ServerMessage.Decode(kick.Encode()).Kick.Reason);
        }

        [Test]
        public void RepeatedScalarsArePackedAndAcceptedUnpackedToo()
        {
            var tick = new Protocol.Tick { Number = 5 };
            tick.Left.AddRange(new uint[] { 1, 300 });
            Assert.AreEqual("08052203" + "01ac02", Hex.Of(tick.Encode()));
            // unpacked: one varint field per element, the same value
            var unpacked = Hex.Parse("0805 2001 20ac02");
            var parsed = Protocol.Tick.Parse(new ProtoReader(unpacked, 0, unpacked.Length));
            Assert.AreEqual(new uint[] { 1, 300 }, parsed.Left.ToArray());
        }

        [Test]
        public void UnknownFieldsOfEveryWireTypeAreSkippedAtEveryLevel()
        {
            // a Welcome from a newer server: unknown fields of each wire type before, between
            // and after the known ones, inside a Member too, and at the ServerMessage level
            string unknown = "f801 2a"          // field 31, varint 42
                + " f901 0102030405060708"      // field 31, fixed64
                + " fa01 03 616263"             // field 31, length-delimited "abc"
                + " fd01 01020304"              // field 31, fixed32
                + " fb01 0801 1a01 78 fc01";    // field 31, a group holding two fields, then its end
            var member = Hex.Parse("0801 1203 616461 " + unknown);
            var welcome = Hex.Concat(Hex.Parse(unknown + " 0a05 6172656e61 1003"), Field(5, member),
                Hex.Parse("3004 " + unknown + " 3a04 65752d31"));
            var body = Hex.Concat(Hex.Parse(unknown), Field(1, welcome), Hex.Parse(unknown));
            Assert.IsTrue(welcome.Length > 127, "a two-byte length, too");
            var msg = ServerMessage.Decode(body);
            Assert.AreEqual(ServerBody.Welcome, msg.Body);
            Assert.AreEqual("arena", msg.Welcome.Room);
            Assert.AreEqual(3, msg.Welcome.Slot);
            Assert.AreEqual(4, msg.Welcome.LastSeq);
            Assert.AreEqual("eu-1", msg.Welcome.ServerId);
            Assert.AreEqual(1, msg.Welcome.Members.Count);
            Assert.AreEqual("ada", msg.Welcome.Members[0].PlayerId);
            // and a whole message a v1 client does not know (ServerMessage field 9) is skipped
            var newer = ServerMessage.Decode(Hex.Parse("4a 02 0801"));
            Assert.AreEqual(ServerBody.None, newer.Body);
        }

        [Test]
        public void AKnownFieldWithAnotherWireTypeIsSkippedLikeAnUnknownOne()
        {
            // Tick.number (1) as length-delimited: not the number
            var bytes = Hex.Parse("0a 02 0102 0807");
            Assert.AreEqual(7, Protocol.Tick.Parse(new ProtoReader(bytes, 0, bytes.Length)).Number);
        }

        [Test]
        public void BrokenMessagesAreProtocolErrors()
        {
            string[] broken =
            {
                "08",               // a varint key without its value
                "0a 05 6172",       // a length past the end
                "0e 00",            // wire type 6
                "0f 00",            // wire type 7
                "0c",               // an end-group key with no group
                "0b 0801",          // a group without its end
                "0b 0801 14",       // a group ended by another field's end key
                "09 0102",          // a truncated fixed64
                "0d 01",            // a truncated fixed32
                "00",               // field number 0
                "08 ffffffffffffffffffff01", // a varint longer than 10 bytes
            };
            foreach (var hex in broken)
            {
                var bytes = Hex.Parse(hex);
                Assert.Throws<RemoteProtocolException>(() => ServerMessage.Decode(bytes), hex);
            }
            Assert.Throws<RemoteProtocolException>(() => ServerMessage.Decode(Hex.Parse("0a 03 0a 01 ff")), "invalid UTF-8");
        }

        [Test]
        public void TheFramerHandlesPartialFramesAndSeveralFramesPerRead()
        {
            var stream = Hex.Concat(Hex.Parse(WelcomeFrame), Hex.Parse(TickFrame), Hex.Parse("00"), Hex.Parse(TickFrame));
            var whole = new List<byte[]>();
            new Framer().Feed(stream, 0, stream.Length, whole);
            Assert.AreEqual(4, whole.Count);
            Assert.AreEqual(0, whole[2].Length);
            // every split point, and byte by byte
            for (int cut = 0; cut <= stream.Length; cut++)
            {
                var framer = new Framer();
                var frames = new List<byte[]>();
                framer.Feed(stream, 0, cut, frames);
                framer.Feed(stream, cut, stream.Length - cut, frames);
                Assert.AreEqual(4, frames.Count, "cut at " + cut);
                for (int i = 0; i < 4; i++)
                    Assert.AreEqual(whole[i], frames[i]);
                Assert.AreEqual(0, framer.Buffered);
            }
            var slow = new Framer();
            var one = new List<byte[]>();
            for (int i = 0; i < stream.Length; i++)
                slow.Feed(stream, i, 1, one);
            Assert.AreEqual(4, one.Count);
            Assert.AreEqual(whole[3], one[3]);
        }

        [Test]
        public void TheFramerRefusesLongPrefixesAndFramesOverItsLimitBeforeTheirBody()
        {
            var framer = new Framer(100);
            var frames = new List<byte[]>();
            Assert.Throws<RemoteProtocolException>(() => framer.Feed(Hex.Parse("65"), 0, 1, frames));   // 101 > 100
            var prefix = Hex.Parse("8080808080");
            Assert.Throws<RemoteProtocolException>(() => new Framer().Feed(prefix, 0, 5, frames));
            var split = new Framer();
            split.Feed(prefix, 0, 4, frames);   // four continuation bytes: still fine
            Assert.Throws<RemoteProtocolException>(() => split.Feed(prefix, 4, 1, frames));
            Assert.AreEqual(0, frames.Count);
            var atLimit = new Framer(2);
            atLimit.Feed(Hex.Parse("02 0801"), 0, 3, frames);
            Assert.AreEqual(1, frames.Count);
        }
    }
}
