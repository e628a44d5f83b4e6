// The sans-I/O core, driven with messages only: the Hello of each connection,
// exactly-once inputs across reconnects, ticks in order and once, presence.
using System;
using System.Collections.Generic;
using NUnit.Framework;
using Tickcast.Protocol;

namespace Tickcast.Tests
{
    [TestFixture]
    public class ClientCoreTests
    {
        static Hello HelloOf(ClientCore core)
        {
            var msg = ClientMessage.Decode(core.HelloMessage());
            Assert.AreEqual(ClientBody.Hello, msg.Body);
            return msg.Hello;
        }

        static Welcome WelcomeAt(ulong firstTick, uint slot = 1, uint lastSeq = 0)
        {
            return new Welcome { Room = "r", Slot = slot, TickRate = 30, FirstTick = firstTick, LastSeq = lastSeq, ServerId = "s" };
        }

        static List<Tick> Feed(ClientCore core, Protocol.Tick tick)
        {
            var raw = tick.Encode();
            return core.OnTick(tick, new ArraySegment<byte>(raw));
        }

        static Protocol.Tick TickOf(ulong number, params RelayedInput[] inputs)
        {
            var t = new Protocol.Tick { Number = number };
            t.Inputs.AddRange(inputs);
            return t;
        }

        static RelayedInput In(uint slot, uint seq, string payload)
        {
            return new RelayedInput { Slot = slot, Seq = seq, Payload = Hex.Utf8(payload) };
        }

        static uint SeqOf(byte[] inputMessage)
        {
            var msg = ClientMessage.Decode(inputMessage);
            Assert.AreEqual(ClientBody.Input, msg.Body);
            return msg.Input.Seq;
        }

        [Test]
        public void TheFirstHelloIsAFreshJoinThenEveryHelloResumesAfterTheLastTick()
        {
            var core = new ClientCore("ada", "r1", "tok");
            var first = HelloOf(core);
            Assert.AreEqual(1, first.ProtocolVersion);
            Assert.AreEqual("ada", first.PlayerId);
            Assert.AreEqual("r1", first.Room);
            Assert.AreEqual("tok", first.Token);
            Assert.AreEqual(0, first.ResumeAfter);
            Assert.IsFalse(first.FullHistory);
            core.OnWelcome(WelcomeAt(5));
            Assert.AreEqual(4, core.Received);
            Feed(core, TickOf(5));
            Feed(core, TickOf(6));
            var again = HelloOf(core);
            Assert.AreEqual(6, again.ResumeAfter);
            Assert.IsFalse(again.FullHistory);
        }

        [Test]
        public void WelcomedAtTickOneAndDroppedBeforeItCameAsksForFullHistory()
        {
            var core = new ClientCore("ada", "r1");
            core.OnWelcome(WelcomeAt(1));
            var hello = HelloOf(core);
            Assert.AreEqual(0, hello.ResumeAfter);
            Assert.IsTrue(hello.FullHistory);
            var late = new ClientCore("bob", "r1", fullHistory: true);
            Assert.IsTrue(HelloOf(late).FullHistory);
            var spectator = new ClientCore("cam", "r1", spectator: true);
            Assert.IsTrue(HelloOf(spectator).Spectator);
        }

        [Test]
        public void UnconfirmedInputsAreResentAboveLastSeqAndConfirmedByTicks()
        {
            var core = new ClientCore("ada", "r");
            byte[] message;
            Assert.AreEqual(1, core.NextInput(Hex.Utf8("a"), out message));
            Assert.AreEqual(1, SeqOf(message));
            core.OnWelcome(WelcomeAt(1, slot: 2));
            for (int i = 2; i <= 5; i++)
                Assert.AreEqual(i, core.NextInput(Hex.Utf8("x" + i), out message));
            Assert.AreEqual(5, core.PendingInputs);
            // tick 1 carries inputs 1 and 2 of ours (slot 2), and someone else's seq 9
            Feed(core, TickOf(1, In(2, 1, "a"), In(1, 9, "z"), In(2, 2, "x2")));
            Assert.AreEqual(3, core.PendingInputs);
            // reconnect: the server had sequenced up to 3 (in a tick we did not get yet)
            var resend = core.OnWelcome(WelcomeAt(2, slot: 2, lastSeq: 3));
            Assert.AreEqual(2, resend.Count);
            Assert.AreEqual(4, SeqOf(resend[0]));
            Assert.AreEqual(5, SeqOf(resend[1]));
            Assert.AreEqual(Hex.Utf8("x4"), ClientMessage.Decode(resend[0]).Input.Payload);
            Assert.AreEqual(2, core.ResentInputs);
            Assert.AreEqual(6, core.NextInput(Hex.Utf8("x6"), out message));
        }

        [Test]
        public void AFreshJoinContinuesAboveTheServersLastSeq()
        {
            var core = new ClientCore("ada", "r");
            core.OnWelcome(WelcomeAt(10, lastSeq: 41));   // a client that lost its counter (a crash)
            byte[] message;
            Assert.AreEqual(42, core.NextInput(new byte[0], out message));
        }

        [Test]
        public void ThePayloadIsCopiedSoTheGameMayReuseItsBuffer()
        {
            var core = new ClientCore("ada", "r");
            var buffer = Hex.Utf8("abc");
            byte[] message;
            core.NextInput(buffer, out message);
            buffer[0] = (byte)'z';
            var resend = core.OnWelcome(WelcomeAt(1));
            Assert.AreEqual(Hex.Utf8("abc"), ClientMessage.Decode(resend[0]).Input.Payload);
        }

        [Test]
        public void DuplicatesAreDroppedAndGapsThrow()
        {
            var core = new ClientCore("ada", "r");
            core.OnWelcome(WelcomeAt(3));
            Assert.AreEqual(1, Feed(core, TickOf(3)).Count);
            Assert.AreEqual(0, Feed(core, TickOf(3)).Count);
            Assert.AreEqual(0, Feed(core, TickOf(2)).Count);
            Assert.AreEqual(2, core.DuplicateTicks);
            var gap = Assert.Throws<TickGapException>(() => Feed(core, TickOf(5)));
            Assert.AreEqual(4, gap.Expected);
            Assert.AreEqual(5, gap.Got);
            Assert.AreEqual(3, core.Received);
        }

        [Test]
        public void SkippedEmptyTicksAreDeliveredAsEmptyTicks()
        {
            var core = new ClientCore("ada", "r", skipEmptyTicks: true);
            core.OnWelcome(WelcomeAt(1));
            var ticks = Feed(core, TickOf(4, In(1, 1, "a")));
            Assert.AreEqual(4, ticks.Count);
            for (int i = 0; i < 3; i++)
            {
                Assert.AreEqual(i + 1, ticks[i].Number);
                Assert.IsTrue(ticks[i].IsEmpty);
                // a skipped tick's content is Tick{number}: 08 and the varint of the number
                Assert.AreEqual("08" + (i + 1).ToString("x2"), Hex.Of(ticks[i].Raw));
            }
            Assert.IsFalse(ticks[3].IsEmpty);
        }

        [Test]
        public void AResumeMustContinueRightAfterTheLastTick()
        {
            var core = new ClientCore("ada", "r");
            core.OnWelcome(WelcomeAt(1));
            Feed(core, TickOf(1));
            Assert.Throws<RemoteProtocolException>(() => core.OnWelcome(WelcomeAt(5)));
            Assert.AreEqual(0, core.OnWelcome(WelcomeAt(2)).Count);
        }

        [Test]
        public void PresenceNamesInputsAndLeftMembers()
        {
            var core = new ClientCore("cy", "r");
            var welcome = WelcomeAt(130, slot: 3);
            welcome.Members.Add(new Protocol.Member { Slot = 1, PlayerId = "ada" });
            core.OnWelcome(welcome);
            Assert.AreEqual(1, core.InitialMembers.Count);
            var tick = TickOf(130, In(1, 7, "L"), In(3, 1, "x"), In(4, 1, "?"));
            tick.Joined.Add(new Protocol.Member { Slot = 3, PlayerId = "cy" });
            tick.Left.Add(1);
            var got = Feed(core, tick)[0];
            Assert.AreEqual("ada", got.Inputs[0].PlayerId);
            Assert.AreEqual("cy", got.Inputs[1].PlayerId);
            Assert.AreEqual("", got.Inputs[2].PlayerId);   // a slot never seen joining
            Assert.AreEqual("cy", got.Joined[0].PlayerId);
            Assert.AreEqual(1, got.Left[0].Slot);
            Assert.AreEqual("ada", got.Left[0].PlayerId);
            Assert.AreEqual(Hex.Of(tick.Encode()), Hex.Of(got.Raw));
        }

        [Test]
        public void DesyncReportsReachTheGame()
        {
            var core = new ClientCore("ada", "r");
            core.OnWelcome(WelcomeAt(1));
            var tick = TickOf(1);
            var desync = new Protocol.Desync { Tick = 40 };
            desync.Slots.Add(2);
            tick.Desyncs.Add(desync);
            var got = Feed(core, tick)[0];
            Assert.AreEqual(40, got.Desyncs[0].Tick);
            Assert.AreEqual(new uint[] { 2 }, got.Desyncs[0].Slots);
        }

        [Test]
        public void SpectatorsSendNoInputsAndNamesAreChecked()
        {
            var spectator = new ClientCore("cam", "r", spectator: true);
            byte[] message;
            Assert.Throws<TickcastException>(() => spectator.NextInput(new byte[0], out message));
            Assert.Throws<ArgumentException>(() => new ClientCore(""));
            Assert.Throws<ArgumentException>(() => new ClientCore(new string('x', 65)));
            Assert.Throws<ArgumentException>(() => new ClientCore("ada", new string('é', 33)));   // 66 bytes
            Assert.DoesNotThrow(() => new ClientCore(new string('x', 64), new string('é', 32)));
        }

        [Test]
        public void StateHashPingAckAndLeaveMessages()
        {
            Assert.AreEqual("320608281202abcd", Hex.Of(ClientCore.StateHashMessage(40, Hex.Parse("abcd"))));
            Assert.AreEqual("1a020805", Hex.Of(ClientCore.PingMessage(5)));
            Assert.AreEqual("22020809", Hex.Of(ClientCore.AckMessage(9)));
            Assert.AreEqual("2a00", Hex.Of(ClientCore.LeaveMessage()));
        }
    }
}
