// The UDP datagrams byte by byte: docs/protocol.md's worked example ("joining
// with UDP"), the order of the receive checks, the replay window, and the
// Hello/Welcome fields of the extension. (tests/integration/test_csharp_udp.py
// checks the same codec against datagrams the Python core produces.)
using System;
using System.Collections.Generic;
using NUnit.Framework;
using Tickcast.Protocol;
using Tickcast.Udp;

namespace Tickcast.Tests
{
    [TestFixture]
    public class UdpDatagramTests
    {
        // docs/protocol.md, "Worked example: joining with UDP"
        internal const string HelloFrame = "110a0f08011202637922056172656e614001";
        internal const string WelcomeFrame = "5b0a590a056172656e611003181e2082012a07080112036164612a0708021203626f623a0465752d31"
            + "4231080110e13c2208a1b2c3d4e5f607182a20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        internal const string Probe = "11a1b2c3d4e5f60718000000010281010" + "1aae92525064c8822a030ad45b0eb96c8";
        internal const string Challenge = "12a1b2c3d4e5f6071800000001038101003c5e0b7a21d4f89e011256afc5d0855a7e6822af6c671f1968";
        internal const string Active = "11a1b2c3d4e5f60718000000020581013c5e0b7a21d4f89e0a12080801120466697265"
            + "b91e79ca4676a288482e0562b8c587cc";
        internal const string TickDatagram = "12a1b2c3d4e5f6071800000002008201014412420882011207080110071a014c120a080210041a046a756d70"
            + "1a060803120263792a209f98e6ef696db66443dbcd772aea37d3bb2602599fc125c71d8820559b6a739d"
            + "d62c3b9ea95920bc30ab21d1245a4127";
        internal const string TickFrame130 = "4412420882011207080110071a014c120a080210041a046a756d701a060803120263792a20"
            + "9f98e6ef696db66443dbcd772aea37d3bb2602599fc125c71d8820559b6a739d";

        internal static readonly byte[] SessionId = Hex.Parse("a1b2c3d4e5f60718");

        internal static byte[] Key()
        {
            var key = new byte[32];
            for (int i = 0; i < key.Length; i++)
                key[i] = (byte)i;
            return key;
        }

        internal static UdpOffer Offer()
        {
            return new UdpOffer { Version = 1, Port = 7777, SessionId = SessionId, Key = Key() };
        }

        static byte[] Body(string frame)
        {
            var frames = new List<byte[]>();
            var bytes = Hex.Parse(frame);
            new Framer().Feed(bytes, 0, bytes.Length, frames);
            Assert.AreEqual(1, frames.Count);
            return frames[0];
        }

        [Test]
        public void TheHelloAsksForUdpInField8()
        {
            var core = new ClientCore("cy", "arena") { UdpVersion = 1 };
            Assert.AreEqual(HelloFrame, Hex.Of(Framing.Frame(core.HelloMessage())));
            var hello = ClientMessage.Decode(Body(HelloFrame)).Hello;
            Assert.AreEqual(1u, hello.UdpVersion);
            // a v1 client's Hello is unchanged: no field 8
            var plain = new ClientCore("cy", "arena").HelloMessage();
            Assert.AreEqual(Hex.Of(Body(HelloFrame)).Replace("4001", "").Replace("0a0f", "0a0d"), Hex.Of(plain));
        }

        [Test]
        public void TheWelcomeCarriesTheOfferAndEncodesBackByteForByte()
        {
            var body = Body(WelcomeFrame);
            var welcome = ServerMessage.Decode(body).Welcome;
            Assert.AreEqual(130ul, welcome.FirstTick);
            var offer = welcome.Udp;
            Assert.IsNotNull(offer);
            Assert.AreEqual(1u, offer.Version);
            Assert.AreEqual(7777u, offer.Port);
            Assert.AreEqual("", offer.Host);
            Assert.AreEqual(Hex.Of(SessionId), Hex.Of(offer.SessionId));
            Assert.AreEqual(Hex.Of(Key()), Hex.Of(offer.Key));
            Assert.IsNull(UdpSession.Usable(offer));
            Assert.AreEqual(Hex.Of(body), Hex.Of(new ServerMessage { Welcome = welcome }.Encode()));
        }

        [Test]
        public void UnusableOffersAreRefusedWithAReason()
        {
            Func<Action<UdpOffer>, string> with = change =>
            {
                var offer = Offer();
                change(offer);
                return UdpSession.Usable(offer);
            };
            Assert.IsNotNull(with(o => o.Version = 2));
            Assert.IsNotNull(with(o => o.Version = 0));
            Assert.IsNotNull(with(o => o.SessionId = new byte[7]));
            Assert.IsNotNull(with(o => o.Key = new byte[16]));
            Assert.IsNotNull(with(o => o.Port = 0));
            Assert.IsNotNull(with(o => o.Port = 65536));
            Assert.IsNull(with(o => o.Host = "udp.example"));
            Assert.IsNotNull(UdpSession.Usable(null));
        }

        [Test]
        public void TheWorkedClientDatagramsAreWhatTheEncoderEmits()
        {
            using (var key = new DatagramKey(Key()))
            {
                var probe = new ClientDatagram { Seq = 1, Received = 129, Ping = 1 };
                Assert.AreEqual(Probe, Hex.Of(Datagram.EncodeClient(SessionId, key, probe)));
                var active = new ClientDatagram { Seq = 2, Active = true, Received = 129, Response = Hex.Parse("3c5e0b7a21d4f89e") };
                active.InputFrames.Add(Framing.Frame(ClientCore.InputMessage(1, Hex.Utf8("fire"))));
                Assert.AreEqual(Active, Hex.Of(Datagram.EncodeClient(SessionId, key, active)));
            }
        }

        [Test]
        public void TheWorkedServerDatagramsVerifyDecodeAndEncodeBack()
        {
            using (var key = new DatagramKey(Key()))
            {
                var window = new ReplayWindow();
                ServerDatagram d;
                var challenge = Hex.Parse(Challenge);
                Assert.AreEqual(DatagramRefusal.None, Datagram.ReadServer(challenge, 0, challenge.Length, SessionId, key, window, out d));
                Assert.AreEqual(1u, d.Seq);
                Assert.AreEqual(129ul, d.Newest);
                Assert.AreEqual(0ul, d.Span);
                Assert.AreEqual("3c5e0b7a21d4f89e", Hex.Of(d.Challenge));
                Assert.AreEqual(1ul, d.Pong.Value);
                Assert.AreEqual(0, d.Frames.Count);
                Assert.AreEqual(Challenge, Hex.Of(Datagram.EncodeServer(SessionId, key, 1, 129, 0, d.Challenge, 1, null)));

                var tick = Hex.Parse(TickDatagram);
                Assert.AreEqual(DatagramRefusal.None, Datagram.ReadServer(tick, 0, tick.Length, SessionId, key, window, out d));
                Assert.AreEqual(2u, d.Seq);
                Assert.AreEqual(130ul, d.Newest);
                Assert.AreEqual(1ul, d.Span);
                Assert.IsNull(d.Challenge);
                Assert.IsFalse(d.Pong.HasValue);
                Assert.AreEqual(1, d.Frames.Count);
                Assert.AreEqual(130ul, d.Frames[0].Number);
                Assert.AreEqual(Hex.Of(Body(TickFrame130)), Hex.Of(d.Frames[0].Body));
                Assert.AreEqual(2, d.Frames[0].Message.Tick.Inputs.Count);
                Assert.AreEqual(TickDatagram, Hex.Of(Datagram.EncodeServer(SessionId, key, 2, 130, 1, null, null,
                    new[] { Hex.Parse(TickFrame130) })));
                Assert.AreEqual(2u, window.Top);
            }
        }

        [Test]
        public void ClientDatagramsDecodeAsTheServerReadsThem()
        {
            using (var key = new DatagramKey(Key()))
            {
                var window = new ReplayWindow();
                ClientDatagram d;
                var probe = Hex.Parse(Probe);
                Assert.AreEqual(DatagramRefusal.None, Datagram.ReadClient(probe, 0, probe.Length, SessionId, key, window, out d));
                Assert.IsFalse(d.Active);
                Assert.AreEqual(129ul, d.Received);
                Assert.AreEqual(1ul, d.Ping.Value);
                var active = Hex.Parse(Active);
                Assert.AreEqual(DatagramRefusal.None, Datagram.ReadClient(active, 0, active.Length, SessionId, key, window, out d));
                Assert.IsTrue(d.Active);
                Assert.AreEqual("3c5e0b7a21d4f89e", Hex.Of(d.Response));
                Assert.AreEqual(1, d.Inputs.Count);
                Assert.AreEqual(1u, d.Inputs[0].Seq);
                Assert.AreEqual("fire", System.Text.Encoding.UTF8.GetString(d.Inputs[0].Payload));
                // a server datagram is not a client one, whatever its MAC
                var tick = Hex.Parse(TickDatagram);
                Assert.AreEqual(DatagramRefusal.Kind, Datagram.ReadClient(tick, 0, tick.Length, SessionId, key, window, out d));
            }
        }

        [Test]
        public void ChecksRunInTheDocumentedOrder()
        {
            using (var key = new DatagramKey(Key()))
            {
                var good = Hex.Parse(TickDatagram);
                Func<byte[], DatagramRefusal> read = data =>
                {
                    ServerDatagram d;
                    return Datagram.ReadServer(data, 0, data.Length, SessionId, key, new ReplayWindow(), out d);
                };
                Assert.AreEqual(DatagramRefusal.None, read(good));
                Assert.AreEqual(DatagramRefusal.Size, read(new byte[30]));
                Assert.AreEqual(DatagramRefusal.Size, read(new byte[1201]));
                var truncated = new byte[good.Length - 1];
                Array.Copy(good, truncated, truncated.Length);
                Assert.AreEqual(DatagramRefusal.Mac, read(truncated));
                var kind = (byte[])good.Clone();
                kind[0] = 0x11;
                Assert.AreEqual(DatagramRefusal.Kind, read(kind));
                var version = (byte[])good.Clone();
                version[0] = 0x22;
                Assert.AreEqual(DatagramRefusal.Kind, read(version));
                var session = (byte[])good.Clone();
                session[8] ^= 1;
                Assert.AreEqual(DatagramRefusal.Session, read(session));
                for (int i = 0; i < good.Length; i++)
                {
                    if (i >= 1 && i < 9)
                        continue;   // the session id is checked first
                    if (i == 0)
                        continue;
                    var flipped = (byte[])good.Clone();
                    flipped[i] ^= 0x40;
                    Assert.AreEqual(DatagramRefusal.Mac, read(flipped), "byte " + i + " altered");
                }
                using (var other = new DatagramKey(new byte[32]))
                {
                    ServerDatagram d;
                    Assert.AreEqual(DatagramRefusal.Mac, Datagram.ReadServer(good, 0, good.Length, SessionId, other, new ReplayWindow(), out d));
                }
                // a replay of an accepted datagram
                var window = new ReplayWindow();
                ServerDatagram first;
                Assert.AreEqual(DatagramRefusal.None, Datagram.ReadServer(good, 0, good.Length, SessionId, key, window, out first));
                Assert.AreEqual(DatagramRefusal.Replay, Datagram.ReadServer(good, 0, good.Length, SessionId, key, window, out first));
            }
        }

        /// <summary>Authentic datagrams whose body breaks the layout are refused as Body, and their
        /// seq is not recorded (a correct datagram with that seq is still accepted).</summary>
        [Test]
        public void BodiesThatDoNotParseExactlyAreRefused()
        {
            using (var key = new DatagramKey(Key()))
            {
                var frame130 = Hex.Parse(TickFrame130);
                var frame129 = Framing.Frame(new ServerMessage { Tick = new Protocol.Tick { Number = 129 } }.Encode());
                var pong = Framing.Frame(new ServerMessage { Pong = new Pong { Nonce = 1 } }.Encode());
                var bad = new List<byte[]>
                {
                    Raw(key, 1, "04" + "8201" + "01"),                                           // unknown flag bit
                    Raw(key, 1, "01" + "8201" + "01" + "3c5e0b7a21d4"),                           // challenge cut short
                    Raw(key, 1, "00" + "8201"),                                                  // span missing
                    Raw(key, 1, "00" + "8201" + "00" + Hex.Of(frame130)),                         // a frame while covering none
                    Raw(key, 1, "00" + "8201" + "01" + Hex.Of(frame129)),                         // a frame outside the range
                    Raw(key, 1, "00" + "8201" + "02" + Hex.Of(frame129) + Hex.Of(frame130)),      // oldest first
                    Raw(key, 1, "00" + "8201" + "02" + Hex.Of(frame130) + Hex.Of(frame130)),      // the same number twice
                    Raw(key, 1, "00" + "8201" + "01" + Hex.Of(pong)),                             // not a tick
                    Raw(key, 1, "00" + "8201" + "01" + Hex.Of(frame130) + "00"),                  // trailing byte (an empty frame)
                    Raw(key, 1, "00" + "8201" + "01" + Hex.Of(frame130).Substring(0, 20)),       // a frame cut short
                    Raw(key, 1, "00" + "02" + "03"),                                             // span beyond tick 1
                };
                foreach (var data in bad)
                {
                    var window = new ReplayWindow();
                    ServerDatagram d;
                    Assert.AreEqual(DatagramRefusal.Body, Datagram.ReadServer(data, 0, data.Length, SessionId, key, window, out d), Hex.Of(data));
                    Assert.AreEqual(0u, window.Top, "a refused datagram's seq is not recorded");
                }
                var fine = Raw(key, 1, "00" + "8201" + "02" + Hex.Of(frame130) + Hex.Of(frame129));
                ServerDatagram ok;
                Assert.AreEqual(DatagramRefusal.None, Datagram.ReadServer(fine, 0, fine.Length, SessionId, key, new ReplayWindow(), out ok));
                Assert.AreEqual(2, ok.Frames.Count);
            }
        }

        /// <summary>A server datagram with a body given in hex, signed.</summary>
        static byte[] Raw(DatagramKey key, uint seq, string body)
        {
            var bytes = Hex.Parse("12" + Hex.Of(SessionId) + seq.ToString("x8") + body + "00000000000000000000000000000000");
            key.Sign(bytes, 0, bytes.Length - Datagram.MacSize);
            return bytes;
        }

        [Test]
        public void TheReplayWindowKeepsTheNewest64()
        {
            var w = new ReplayWindow();
            Assert.IsFalse(w.Check(0), "seq 0 is never valid");
            Assert.IsTrue(w.Check(1));
            w.Record(1);
            Assert.IsFalse(w.Check(1));
            Assert.IsTrue(w.Check(3));
            w.Record(3);
            Assert.IsTrue(w.Check(2), "a late one within the window");
            w.Record(2);
            Assert.IsFalse(w.Check(2));
            w.Record(66);   // 66 - 3 = 63: seqs 3..66 stay in the window
            Assert.AreEqual(66u, w.Top);
            Assert.IsFalse(w.Check(3), "3 was seen");
            Assert.IsFalse(w.Check(2), "2 is older than the window (66 - 2 = 64)");
            Assert.IsTrue(w.Check(4), "4 is in the window and was not seen");
            w.Record(200);   // a jump over the whole window
            Assert.IsFalse(w.Check(66), "66 is 134 behind: too old");
            Assert.IsFalse(w.Check(200));
            Assert.IsTrue(w.Check(199));
            Assert.IsTrue(w.Check(137));
            Assert.IsFalse(w.Check(136));
            Assert.IsTrue(w.Check(uint.MaxValue));
            w.Record(uint.MaxValue);
            Assert.IsFalse(w.Check(uint.MaxValue));
            Assert.IsTrue(w.Check(uint.MaxValue - 63));
            Assert.IsFalse(w.Check(uint.MaxValue - 64));
        }

        [Test]
        public void EncodersRefuseDatagramsOver1200Bytes()
        {
            using (var key = new DatagramKey(Key()))
            {
                // header 13, flags and received 2, MAC 16; the frame: prefix 2, ClientMessage key and length 3,
                // Input seq 2, payload key and length 3: 41 bytes around the payload
                var d = new ClientDatagram { Seq = 1, Received = 1 };
                d.InputFrames.Add(Framing.Frame(ClientCore.InputMessage(1, new byte[1200 - 41 + 1])));
                Assert.Throws<ArgumentException>(() => Datagram.EncodeClient(SessionId, key, d));
                var fits = new ClientDatagram { Seq = 1, Received = 1 };
                fits.InputFrames.Add(Framing.Frame(ClientCore.InputMessage(1, new byte[1200 - 41])));
                Assert.AreEqual(1200, Datagram.EncodeClient(SessionId, key, fits).Length);
            }
            Assert.AreEqual(1142, Datagram.InputBudget);
            Assert.AreEqual(1132, Datagram.TickBudget);
        }
    }
}
