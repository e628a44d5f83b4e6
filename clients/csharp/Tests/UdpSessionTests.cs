// The client side of a UDP session on a fake clock: docs/protocol.md's worked
// example datagram by datagram, the probing / active / fallback modes and their
// timers, which path each input takes, the challenge's echo, refused datagrams,
// and the end of the 32-bit sequence numbers.
using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using Tickcast.Protocol;
using Tickcast.Udp;

namespace Tickcast.Tests
{
    [TestFixture]
    public class UdpSessionTests
    {
        ClientCore core;
        UdpActions act;
        DatagramKey key;
        ReplayWindow serverWindow;
        uint serverSeq;

        [SetUp]
        public void Create()
        {
            act = new UdpActions();
            key = new DatagramKey(UdpDatagramTests.Key());
            serverWindow = new ReplayWindow();
            serverSeq = 0;
        }

        [TearDown]
        public void Dispose()
        {
            key.Dispose();
        }

        /// <summary>cy (slot 3) welcomed at <paramref name="next"/>; <paramref name="sentBefore"/> are inputs sent
        /// before the Welcome (which the stream then carried, as the Welcome's resend).</summary>
        UdpSession Session(ulong next = 130, params string[] sentBefore)
        {
            core = new ClientCore("cy", "arena", skipEmptyTicks: true);
            byte[] message;
            foreach (var payload in sentBefore)
                core.NextInput(Hex.Utf8(payload), out message);
            core.OnWelcome(new Welcome { Room = "arena", Slot = 3, TickRate = 30, FirstTick = next });
            return new UdpSession(core, UdpDatagramTests.Offer());
        }

        List<PendingInput> Unconfirmed { get { return core.Unconfirmed.ToList(); } }

        void Input(uint seq, string payload)
        {
            byte[] message;
            Assert.AreEqual(seq, core.NextInput(Hex.Utf8(payload), out message));
        }

        /// <summary>Tick <paramref name="number"/> on the stream, carrying cy's input <paramref name="seq"/>.</summary>
        static ServerMessage Confirming(ulong number, uint seq)
        {
            var tick = new Protocol.Tick { Number = number };
            tick.Inputs.Add(new RelayedInput { Slot = 3, Seq = seq, Payload = Hex.Utf8("x") });
            return ServerMessage.Decode(new ServerMessage { Tick = tick }.Encode());
        }

        /// <summary>What the server reads in the client's datagram.</summary>
        ClientDatagram Read(byte[] data)
        {
            ClientDatagram d;
            Assert.AreEqual(DatagramRefusal.None, Datagram.ReadClient(data, 0, data.Length, UdpDatagramTests.SessionId, key, serverWindow, out d));
            return d;
        }

        ClientDatagram TakeOne()
        {
            Assert.AreEqual(1, act.Datagrams.Count, "one datagram expected");
            var d = Read(act.Datagrams[0]);
            act.Datagrams.Clear();
            return d;
        }

        byte[] FromServer(ulong newest, ulong span = 0, byte[] challenge = null, ulong? pong = null, params ulong[] ticks)
        {
            var frames = ticks.OrderByDescending(n => n)
                .Select(n => Framing.Frame(new ServerMessage { Tick = new Protocol.Tick { Number = n } }.Encode())).ToList();
            return Datagram.EncodeServer(UdpDatagramTests.SessionId, key, ++serverSeq, newest, span, challenge, pong, frames);
        }

        static TimeSpan At(int ms)
        {
            return TimeSpan.FromMilliseconds(ms);
        }

        [Test]
        public void TheWorkedExampleDatagramByDatagram()
        {
            var udp = Session();
            udp.Start(At(0), act);
            Assert.AreEqual(UdpDatagramTests.Probe, Hex.Of(act.Datagrams.Single()), "the probe");
            act.Clear();

            // cy fires while probing: by the stream
            Input(1, "fire");
            udp.OnInput(At(10), act);
            Assert.AreEqual(0, act.Datagrams.Count);
            Assert.AreEqual(1, act.StreamMessages.Count);
            Assert.AreEqual(Hex.Of(Unconfirmed[0].Message), Hex.Of(act.StreamMessages[0]));
            act.Clear();

            var challenge = Hex.Parse(UdpDatagramTests.Challenge);
            Assert.AreEqual(DatagramRefusal.None, udp.OnDatagram(challenge, 0, challenge.Length, At(40), act));
            Assert.IsTrue(act.ModeChanged);
            Assert.AreEqual(UdpMode.Active, udp.Mode);
            Assert.AreEqual(At(40), udp.Rtt.Value, "the pong of nonce 1, sent at 0");
            Assert.AreEqual(UdpDatagramTests.Active, Hex.Of(act.Datagrams.Single()), "active, the response, the input");
            act.Clear();

            var tick = Hex.Parse(UdpDatagramTests.TickDatagram);
            Assert.AreEqual(DatagramRefusal.None, udp.OnDatagram(tick, 0, tick.Length, At(70), act));
            Assert.AreEqual(130ul, act.Ticks.Single().Number);
            Assert.AreEqual(Hex.Of(Hex.Parse(UdpDatagramTests.TickFrame130).Skip(3).ToArray()),
                Hex.Of(act.Ticks[0].Raw), "the very tick of the TCP example");
            var ack = Read(act.Datagrams.Single());
            Assert.AreEqual(3u, ack.Seq);
            Assert.IsTrue(ack.Active);
            Assert.AreEqual(130ul, ack.Received, "acknowledged at once");
            Assert.IsNull(ack.Response, "the newest server datagram carries no challenge any more");
            Assert.AreEqual(1u, ack.Inputs.Single().Seq, "fire is still unconfirmed (tick 130 does not carry it)");
            Assert.AreEqual(130ul, udp.Received);
        }

        [Test]
        public void ProbingProbesEveryQuarterSecondThenFallsBackAfterTwo()
        {
            var udp = Session();
            udp.Start(At(0), act);
            var probes = new List<ClientDatagram> { TakeOne() };
            Input(1, "a");
            udp.OnInput(At(5), act);   // inputs go by the stream while probing
            Assert.AreEqual(1, act.StreamMessages.Count);
            act.Clear();
            var now = At(0);
            while (udp.Mode == UdpMode.Probing)
            {
                now = udp.NextDeadline;
                udp.OnTimer(now, act);
                probes.AddRange(act.Datagrams.Select(Read));
                act.Datagrams.Clear();
            }
            Assert.AreEqual(At(2000), now);
            Assert.AreEqual(UdpMode.Fallback, udp.Mode);
            Assert.IsTrue(act.ModeChanged);
            Assert.AreEqual(0, act.StreamMessages.Count, "the stream already carried input 1");
            Assert.AreEqual(8, probes.Count, "at 0, 0.25, ..., 1.75 s");
            foreach (var p in probes)
            {
                Assert.IsFalse(p.Active);
                Assert.IsTrue(p.Ping.HasValue);
                Assert.IsNull(p.Response);
                Assert.AreEqual(129ul, p.Received);
            }
            Assert.AreEqual(Enumerable.Range(1, 8).Select(i => (ulong)i).ToArray(), probes.Select(p => p.Ping.Value).ToArray());
            Assert.AreEqual(Enumerable.Range(1, 8).Select(i => (uint)i).ToArray(), probes.Select(p => p.Seq).ToArray());
            Assert.AreEqual(1, udp.Fallbacks);

            // fallback: a probe every 2 s, until a datagram answers
            act.Clear();
            Assert.AreEqual(At(4000), udp.NextDeadline);
            udp.OnTimer(At(4000), act);
            var probe = TakeOne();
            Assert.IsFalse(probe.Active);
            Assert.IsTrue(probe.Ping.HasValue);
            Assert.AreEqual(At(6000), udp.NextDeadline);
            var pong = FromServer(129, 0, null, probe.Ping);
            udp.OnDatagram(pong, 0, pong.Length, At(4030), act);
            Assert.AreEqual(UdpMode.Active, udp.Mode);
            Assert.IsTrue(act.ModeChanged);
            var back = TakeOne();
            Assert.IsTrue(back.Active, "coming back is said at once");
        }

        [Test]
        public void ActiveSendsAKeepaliveWithAPingEveryHalfSecondAndFallsBackAfterTwoSilentSeconds()
        {
            var udp = Session();
            udp.Start(At(0), act);
            act.Clear();
            var answer = FromServer(129, 0, null, 1);
            udp.OnDatagram(answer, 0, answer.Length, At(20), act);
            var first = TakeOne();
            Assert.IsTrue(first.Active);
            Assert.IsFalse(first.Ping.HasValue, "the probe's ping was 20 ms ago");
            act.Clear();

            // quiet room: keepalives every 0.5 s, each with a ping; pongs keep the session alive
            var sent = new List<KeyValuePair<TimeSpan, ClientDatagram>>();
            var now = At(20);
            var lastPong = now;
            while (now < At(3000))
            {
                now = udp.NextDeadline;
                udp.OnTimer(now, act);
                foreach (var d in act.Datagrams.Select(Read))
                {
                    sent.Add(new KeyValuePair<TimeSpan, ClientDatagram>(now, d));
                    var pong = FromServer(129, 0, null, d.Ping);
                    lastPong = now + At(10);
                    udp.OnDatagram(pong, 0, pong.Length, lastPong, act);
                }
                act.Clear();
            }
            Assert.AreEqual(UdpMode.Active, udp.Mode);
            Assert.IsTrue(sent.Count >= 5 && sent.Count <= 7, sent.Count + " keepalives in 3 s");
            for (int i = 1; i < sent.Count; i++)
            {
                var gap = sent[i].Key - sent[i - 1].Key;
                Assert.IsTrue(gap >= At(500) && gap <= At(520), "keepalive gap " + gap.TotalMilliseconds + " ms");
            }
            Assert.IsTrue(sent.All(p => p.Value.Active && p.Value.Ping.HasValue));

            // a datagram of our own, then the server goes silent: an input only datagrams carried goes by the stream
            Input(1, "x");
            udp.OnInput(now, act);
            Assert.AreEqual(1, TakeOne().Inputs.Count);
            Assert.AreEqual(0, act.StreamMessages.Count, "active: by datagram, not the stream");
            act.Clear();
            while (udp.Mode == UdpMode.Active)
            {
                now = udp.NextDeadline;
                udp.OnTimer(now, act);
                if (udp.Mode == UdpMode.Active)
                    act.Clear();
            }
            Assert.AreEqual(UdpMode.Fallback, udp.Mode);
            Assert.AreEqual(At(2000), now - lastPong, "fell back 2 s after the last valid datagram");
            Assert.AreEqual(1, act.StreamMessages.Count, "input 1 written on the stream at the fallback");
            Assert.AreEqual(Hex.Of(Unconfirmed[0].Message), Hex.Of(act.StreamMessages[0]));
            Assert.AreEqual(0, act.Datagrams.Count);
        }

        [Test]
        public void InputsTakeTheDatagramWhileAllUnconfirmedFitElseTheStreamAfterWhatItHasNotCarried()
        {
            var udp = Session(130, "a", "b");   // the Welcome's resend put 1 and 2 on the stream
            udp.Start(At(0), act);
            Assert.AreEqual(new uint[] { 1, 2 }, TakeOne().Inputs.Select(i => i.Seq).ToArray(), "every datagram carries the oldest unconfirmed");
            var hello = FromServer(129, 0);
            udp.OnDatagram(hello, 0, hello.Length, At(10), act);
            act.Clear();

            Input(3, "c");
            udp.OnInput(At(20), act);
            Assert.AreEqual(0, act.StreamMessages.Count);
            Assert.AreEqual(new uint[] { 1, 2, 3 }, TakeOne().Inputs.Select(i => i.Seq).ToArray());

            // a burst that does not fit: the stream carries 3.. (1 and 2 it carried already), datagrams the oldest that fit
            uint seq = 4;
            while (Unconfirmed.Sum(i => i.Frame.Length) <= Datagram.InputBudget)
                Input(seq++, new string('p', 100));
            udp.OnInput(At(30), act);
            Assert.AreEqual(0, act.Datagrams.Count, "no datagram for an input that goes by the stream");
            var streamed = act.StreamMessages.Select(m => ClientMessage.Decode(m).Input.Seq).ToArray();
            Assert.AreEqual(Enumerable.Range(3, (int)seq - 3).Select(i => (uint)i).ToArray(), streamed);
            act.Clear();
            Input(seq, "d");
            udp.OnInput(At(40), act);
            Assert.AreEqual(new[] { seq }, act.StreamMessages.Select(m => ClientMessage.Decode(m).Input.Seq).ToArray(), "only what the stream has not carried");
            act.Clear();

            // the next datagram (an ack) carries the oldest ones that fit, a prefix: never a later one without the earlier
            udp.OnTimer(At(600), act);
            var d = TakeOne();
            Assert.IsTrue(d.Inputs.Count > 3 && d.Inputs.Count < Unconfirmed.Count);
            Assert.AreEqual(Unconfirmed.Take(d.Inputs.Count).Select(i => i.Seq).ToArray(), d.Inputs.Select(i => i.Seq).ToArray());

            // confirmed in a tick: gone from the list, and the ack carries none of them
            udp.OnStreamTick(130, Confirming(130, seq), At(650), act);
            Assert.AreEqual(130ul, act.Ticks.Single().Number);
            Assert.AreEqual(0, TakeOne().Inputs.Count, "the ack is built after the tick confirmed them");
            Assert.AreEqual(0, core.PendingInputs);
            act.Clear();
            // so new inputs fit again and take the datagram
            Input(seq + 1, "e");
            udp.OnInput(At(700), act);
            Assert.AreEqual(0, act.StreamMessages.Count);
            Assert.AreEqual(new[] { seq + 1 }, TakeOne().Inputs.Select(i => i.Seq).ToArray());
        }

        [Test]
        public void AnInputTooLargeForAnyDatagramBlocksTheLaterOnesFromDatagrams()
        {
            var udp = Session(130);
            udp.Start(At(0), act);
            var hello = FromServer(129, 0);
            udp.OnDatagram(hello, 0, hello.Length, At(10), act);
            act.Clear();
            Input(1, new string('x', 1180));
            udp.OnInput(At(20), act);
            Assert.AreEqual(1, act.StreamMessages.Count);
            act.Clear();
            Input(2, "small");
            udp.OnInput(At(30), act);
            Assert.AreEqual(new uint[] { 2 }, act.StreamMessages.Select(m => ClientMessage.Decode(m).Input.Seq).ToArray());
            act.Clear();
            udp.OnTimer(At(600), act);
            Assert.AreEqual(0, TakeOne().Inputs.Count, "2 never travels without 1");
        }

        [Test]
        public void OnlyTheNewestDatagramsChallengeIsEchoed()
        {
            var udp = Session();
            udp.Start(At(0), act);
            act.Clear();
            var c1 = Hex.Parse("1111111111111111");
            var older = FromServer(129, 0, c1);        // seq 1
            var newer = FromServer(129, 0, null, 1);   // seq 2: no challenge (the address was validated)
            udp.OnDatagram(newer, 0, newer.Length, At(10), act);
            Assert.IsNull(TakeOne().Response);
            udp.OnDatagram(older, 0, older.Length, At(11), act);   // late: its challenge does not count
            Assert.AreEqual(0, act.Datagrams.Count, "nothing advanced, no newest challenge: nothing at once");
            udp.OnTimer(At(600), act);
            Assert.IsNull(TakeOne().Response);

            var c2 = Hex.Parse("2222222222222222");
            var rebound = FromServer(129, 0, c2);   // seq 3: the server saw us at a new address
            udp.OnDatagram(rebound, 0, rebound.Length, At(700), act);
            var echo = TakeOne();
            Assert.AreEqual(Hex.Of(c2), Hex.Of(echo.Response), "echoed at once");
            udp.OnTimer(At(1300), act);
            Assert.AreEqual(Hex.Of(c2), Hex.Of(TakeOne().Response), "and in every datagram while the newest has it");
        }

        [Test]
        public void FallbackProbesEchoTheNewestChallengeTooAndALateTimerCannotSendIntoSilence()
        {
            var udp = Session();
            udp.Start(At(0), act);
            act.Clear();
            var c = Hex.Parse("3333333333333333");
            var answer = FromServer(129, 0, c, 1);
            udp.OnDatagram(answer, 0, answer.Length, At(10), act);
            Assert.AreEqual(Hex.Of(c), Hex.Of(TakeOne().Response));
            // silence; the timer is late, and an input comes first: it must go by the stream
            Input(1, "late");
            udp.OnInput(At(2500), act);
            Assert.AreEqual(UdpMode.Fallback, udp.Mode);
            Assert.AreEqual(0, act.Datagrams.Count);
            Assert.AreEqual(1, act.StreamMessages.Count);
            act.Clear();
            udp.OnTimer(udp.NextDeadline, act);
            var probe = TakeOne();
            Assert.IsFalse(probe.Active);
            Assert.IsTrue(probe.Ping.HasValue);
            Assert.AreEqual(Hex.Of(c), Hex.Of(probe.Response), "every datagram echoes the newest challenge");
            Assert.AreEqual(1u, probe.Inputs.Single().Seq, "and carries the oldest unconfirmed inputs");
        }

        [Test]
        public void RefusedDatagramsAreCountedAndChangeNothing()
        {
            var udp = Session();
            udp.Start(At(0), act);
            act.Clear();
            var good = FromServer(130, 1, null, null, 130);
            var forged = (byte[])good.Clone();
            forged[forged.Length - 1] ^= 1;
            var otherSession = (byte[])good.Clone();
            otherSession[1] ^= 1;
            var fromClient = (byte[])good.Clone();
            fromClient[0] = Datagram.KindClient;
            Assert.AreEqual(DatagramRefusal.Mac, udp.OnDatagram(forged, 0, forged.Length, At(1), act));
            Assert.AreEqual(DatagramRefusal.Session, udp.OnDatagram(otherSession, 0, otherSession.Length, At(1), act));
            Assert.AreEqual(DatagramRefusal.Kind, udp.OnDatagram(fromClient, 0, fromClient.Length, At(1), act));
            Assert.AreEqual(DatagramRefusal.Size, udp.OnDatagram(good, 0, 20, At(1), act));
            Assert.AreEqual(UdpMode.Probing, udp.Mode, "no refused datagram makes the session active");
            Assert.AreEqual(0, act.Datagrams.Count + act.Ticks.Count, "and none gets an answer");
            Assert.AreEqual(DatagramRefusal.None, udp.OnDatagram(good, 0, good.Length, At(2), act));
            Assert.AreEqual(DatagramRefusal.Replay, udp.OnDatagram(good, 0, good.Length, At(3), act));
            Assert.AreEqual(1, act.Ticks.Count, "the replay applied nothing");
            Assert.AreEqual(1L, udp.Refused(DatagramRefusal.Mac));
            Assert.AreEqual(1L, udp.Refused(DatagramRefusal.Replay));
            Assert.AreEqual(5L, udp.RefusedTotal);
            Assert.AreEqual(1L, udp.DatagramsReceived);
        }

        [Test]
        public void StreamTicksAreMergedAndAcknowledgedAtOnceWhileActive()
        {
            var udp = Session(130);
            udp.Start(At(0), act);
            var hello = FromServer(129, 0);
            udp.OnDatagram(hello, 0, hello.Length, At(10), act);
            act.Clear();
            var d = FromServer(132, 2, null, null, 132, 131);   // 130 timed out to the stream
            udp.OnDatagram(d, 0, d.Length, At(20), act);
            Assert.AreEqual(0, act.Ticks.Count);
            Assert.AreEqual(0, act.Datagrams.Count, "nothing advanced");
            var m130 = ServerMessage.Decode(new ServerMessage { Tick = new Protocol.Tick { Number = 130 } }.Encode());
            udp.OnStreamTick(130, m130, At(30), act);
            Assert.AreEqual(new ulong[] { 130, 131, 132 }, act.Ticks.Select(t => t.Number).ToArray());
            Assert.AreEqual(132ul, TakeOne().Received);
            Assert.AreEqual(2L, udp.TicksViaDatagram);
            Assert.AreEqual(1L, udp.TicksViaStream);
        }

        [Test]
        public void AfterDatagram0xffffffffTheSessionSendsNoMore()
        {
            var udp = Session(130);
            udp.SkipSeqTo(uint.MaxValue - 1);
            udp.Start(At(0), act);
            Assert.AreEqual(uint.MaxValue, TakeOne().Seq);
            var hello = FromServer(129, 0);
            Input(1, "z");
            udp.OnDatagram(hello, 0, hello.Length, At(10), act);
            Assert.AreEqual(UdpMode.Closed, udp.Mode);
            Assert.AreEqual(0, act.Datagrams.Count);
            Assert.AreEqual(1, act.StreamMessages.Count, "its input goes by the stream");
            act.Clear();
            Input(2, "y");
            udp.OnInput(At(20), act);
            Assert.AreEqual(1, act.StreamMessages.Count);
            Assert.AreEqual(0, act.Datagrams.Count);
            Assert.AreEqual(TimeSpan.MaxValue, udp.NextDeadline);
            var tick = FromServer(130, 1, null, null, 130);
            udp.OnDatagram(tick, 0, tick.Length, At(30), act);
            Assert.AreEqual(1, act.Ticks.Count, "what still arrives is merged");
            Assert.AreEqual(0, act.Datagrams.Count);
        }

        [Test]
        public void AClosedSessionIgnoresLateDatagrams()
        {
            var udp = Session();
            udp.Start(At(0), act);
            act.Clear();
            udp.Dispose();
            var tick = FromServer(130, 1, null, null, 130);
            udp.OnDatagram(tick, 0, tick.Length, At(10), act);
            udp.OnTimer(At(5000), act);
            Assert.AreEqual(0, act.Ticks.Count + act.Datagrams.Count + act.StreamMessages.Count);
        }
    }
}
