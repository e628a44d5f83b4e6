// The connection layer over the in-memory transport: events only through Poll,
// on the polling thread; resume with resend above last_seq; typed kicks;
// redirects; Leave; a dead link noticed by silence.
using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using NUnit.Framework;
using Tickcast.Protocol;

namespace Tickcast.Tests
{
    [TestFixture]
    public class ClientTests
    {
        FakeTransport transport;
        TickcastClient client;

        [SetUp]
        public void Create()
        {
            transport = new FakeTransport();
        }

        [TearDown]
        public void CloseClient()
        {
            if (client != null)
                client.Close(false);
        }

        TickcastClient Start(Action<ClientOptions> configure = null)
        {
            var options = new ClientOptions
            {
                Host = "entry",
                Port = 7777,
                PlayerId = "ada",
                Room = "r",
                Transport = transport,
                BackoffInitial = TimeSpan.FromMilliseconds(1),
                BackoffMax = TimeSpan.FromMilliseconds(5),
                PingInterval = TimeSpan.FromSeconds(30),
                Seed = 1,
            };
            if (configure != null)
                configure(options);
            client = new TickcastClient(options);
            client.Start();
            return client;
        }

        /// <summary>Takes events (via TryTakeEvent, on this thread) until one of <paramref name="kind"/> came.</summary>
        List<ClientEvent> Until(ClientEventKind kind)
        {
            return Events.Until(client, ev => ev.Kind == kind, kind + " event");
        }

        static RelayedInput In(uint slot, uint seq, string payload)
        {
            return new RelayedInput { Slot = slot, Seq = seq, Payload = Hex.Utf8(payload) };
        }

        [Test]
        public void EventsArriveOnlyThroughPollOnThePollingThread()
        {
            Start();
            var conn = transport.Next();
            var hello = conn.TakeHello();
            Assert.AreEqual("ada", hello.PlayerId);
            Assert.AreEqual(0, hello.ResumeAfter);
            conn.Welcome(1, slot: 2, members: "zed");
            conn.Tick(1);
            conn.Tick(2);
            var threads = new List<int>();
            var ticks = new List<ulong>();
            ClientEvent welcomed = null;
            client.Welcomed += ev => { welcomed = ev; threads.Add(Thread.CurrentThread.ManagedThreadId); };
            client.TickReceived += t => { ticks.Add(t.Number); threads.Add(Thread.CurrentThread.ManagedThreadId); };
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (ticks.Count < 2 && DateTime.UtcNow < deadline)
            {
                client.WaitForEvent(TimeSpan.FromMilliseconds(100));
                client.Poll();
            }
            Assert.AreEqual(new ulong[] { 1, 2 }, ticks.ToArray());
            Assert.IsNotNull(welcomed);
            Assert.AreEqual(2, welcomed.Slot);
            Assert.AreEqual(1, welcomed.FirstTick);
            Assert.AreEqual("zed", welcomed.Members[0].PlayerId);
            foreach (var id in threads)
                Assert.AreEqual(Thread.CurrentThread.ManagedThreadId, id);
            Assert.AreEqual(2, client.LastTick);
            Assert.AreEqual("zed", client.Members[1].PlayerId);
            Assert.AreEqual(2, client.Slot);
            Assert.IsTrue(client.IsConnected);
        }

        [Test]
        public void ADropIsResumedAfterTheLastTickAndOnlyUnsequencedInputsAreResent()
        {
            Start();
            var conn = transport.Next();
            conn.TakeHello();
            Assert.AreEqual(1, client.Send(Hex.Utf8("one")));   // before the Welcome: waits for it
            conn.Welcome(1, slot: 1);
            Assert.AreEqual(1, conn.Take().Input.Seq);          // sent once welcomed
            Assert.AreEqual(2, client.Send(Hex.Utf8("two")));
            Assert.AreEqual(3, client.Send(Hex.Utf8("three")));
            Assert.AreEqual(2, conn.Take().Input.Seq);
            Assert.AreEqual(3, conn.Take().Input.Seq);
            conn.Tick(1, In(1, 1, "one"));
            conn.Tick(2);
            Until(ClientEventKind.Tick);
            Until(ClientEventKind.Tick);
            conn.Drop();
            var lost = Until(ClientEventKind.Disconnected);
            Assert.IsInstanceOf<IOException>(lost[lost.Count - 1].Error);
            Assert.AreEqual(4, client.Send(Hex.Utf8("four")));  // while reconnecting: waits
            var again = transport.Next();
            var hello = again.TakeHello();
            Assert.AreEqual(2, hello.ResumeAfter);
            Assert.IsFalse(hello.FullHistory);
            // the server had sequenced seq 2 (in tick 3, which the client has not seen)
            again.Welcome(3, slot: 1, lastSeq: 2);
            var resent = again.Take().Input;
            Assert.AreEqual(3, resent.Seq);                      // not 1 (in a tick) nor 2 (sequenced)
            Assert.AreEqual(Hex.Utf8("three"), resent.Payload);
            var waited = again.Take().Input;
            Assert.AreEqual(4, waited.Seq);
            Assert.AreEqual(Hex.Utf8("four"), waited.Payload);
            var resumed = Until(ClientEventKind.Resumed);
            Assert.AreEqual(1, resumed[resumed.Count - 1].Reconnects);
            again.Tick(3, In(1, 2, "two"));
            again.Tick(4, In(1, 3, "three"), In(1, 4, "four"));
            Until(ClientEventKind.Tick);
            var last = Until(ClientEventKind.Tick);
            Assert.AreEqual(4, last[last.Count - 1].Tick.Number);
            Assert.AreEqual(0, client.PendingInputs);
            Assert.AreEqual(2, client.ResentInputs);
            Assert.AreEqual(1, client.Reconnects);
        }

        [Test]
        public void ATerminalKickEndsTheStreamWithItsTypedErrorAndNoReconnect()
        {
            Start();
            var conn = transport.Next();
            conn.TakeHello();
            conn.Kick(KickReason.RoomFull, "room r has 8 players");
            var events = Until(ClientEventKind.Closed);
            var error = events[events.Count - 1].Error;
            Assert.IsInstanceOf<RoomFullException>(error);
            Assert.AreEqual("room r has 8 players", ((KickedException)error).Detail);
            Assert.IsTrue(client.IsClosed);
            Assert.AreSame(error, client.Error);
            Assert.IsTrue(transport.NoneWithin(TimeSpan.FromMilliseconds(200)));
            Assert.Throws<ConnectionClosedException>(() => client.Send(new byte[1]));
        }

        [Test]
        public void ARetriedKickIsResumedAndRecorded()
        {
            Start();
            var conn = transport.Next();
            conn.TakeHello();
            conn.Welcome(1);
            conn.Tick(1);
            Until(ClientEventKind.Tick);
            conn.Kick(KickReason.ServerShutdown, "stopping");
            var lost = Until(ClientEventKind.Disconnected);
            Assert.IsInstanceOf<ServerShutdownException>(lost[lost.Count - 1].Error);
            var again = transport.Next();
            Assert.AreEqual(1, again.TakeHello().ResumeAfter);
            again.Kick(KickReason.ResumeUnavailable, "tick 2 is gone");
            var closed = Until(ClientEventKind.Closed);
            Assert.IsInstanceOf<ResumeUnavailableException>(closed[closed.Count - 1].Error);
            Assert.AreEqual(2, client.Kicks.Length);
        }

        [Test]
        public void ARedirectIsFollowedWithTheSameHello()
        {
            Start(o => o.Token = "jwt");
            var entry = transport.Next();
            var first = entry.TakeHello();
            entry.Kick(KickReason.Redirect, "not here", "owner:7001");
            var owner = transport.Next();
            Assert.AreEqual(new Endpoint("owner", 7001), owner.Endpoint);
            var hello = owner.TakeHello();
            Assert.AreEqual(first.PlayerId, hello.PlayerId);
            Assert.AreEqual("jwt", hello.Token);
            owner.Welcome(1);
            var welcomed = Until(ClientEventKind.Welcomed);
            Assert.AreEqual(new Endpoint("owner", 7001), welcomed[welcomed.Count - 1].Endpoint);
            Assert.AreEqual(new Endpoint("owner", 7001), client.Endpoint);
        }

        [Test]
        public void LeaveSendsLeaveAndEndsTheStreamWithoutAnError()
        {
            Start();
            var conn = transport.Next();
            conn.TakeHello();
            conn.Welcome(1);
            Until(ClientEventKind.Welcomed);
            client.Leave();
            Assert.AreEqual(ClientBody.Leave, conn.Take().Body);
            conn.Kick(KickReason.Unspecified, "left the room");
            var closed = Until(ClientEventKind.Closed);
            Assert.IsNull(closed[closed.Count - 1].Error);
            Assert.IsTrue(transport.NoneWithin(TimeSpan.FromMilliseconds(200)));
        }

        [Test]
        public void AnOperatorsKickWithoutLeaveIsAnError()
        {
            Start();
            var conn = transport.Next();
            conn.TakeHello();
            conn.Welcome(1);
            conn.Kick(KickReason.Unspecified, "kicked by an operator");
            var closed = Until(ClientEventKind.Closed);
            var error = closed[closed.Count - 1].Error;
            Assert.AreEqual(typeof(KickedException), error.GetType());
            Assert.AreEqual(KickReason.Unspecified, ((KickedException)error).Reason);
        }

        [Test]
        public void NothingListeningAtFirstEndsTheStreamAtOnce()
        {
            transport.Refusing.Add(new Endpoint("entry", 7777));
            Start();
            var closed = Until(ClientEventKind.Closed);
            Assert.IsInstanceOf<ConnectionClosedException>(closed[closed.Count - 1].Error);
            Assert.AreEqual(1, transport.Dialed.Length);
        }

        [Test]
        public void ASilentConnectionIsGivenUpAndResumed()
        {
            Start(o => o.DeadAfter = TimeSpan.FromMilliseconds(200));
            var conn = transport.Next();
            conn.TakeHello();
            conn.Welcome(1);
            conn.Tick(1);
            var lost = Until(ClientEventKind.Disconnected);
            Assert.IsInstanceOf<TimeoutException>(lost[lost.Count - 1].Error);
            Assert.IsTrue(conn.Aborted);
            Assert.AreEqual(1, transport.Next().TakeHello().ResumeAfter);
        }

        [Test]
        public void PingsAreSentAndPongsGiveTheRoundTrip()
        {
            Start(o => o.PingInterval = TimeSpan.FromMilliseconds(20));
            var conn = transport.Next();
            conn.TakeHello();
            conn.Welcome(1);
            ClientMessage ping = null;
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (ping == null && DateTime.UtcNow < deadline)
            {
                foreach (var m in conn.Drain())
                    if (m.Body == ClientBody.Ping)
                        ping = m;
                Thread.Sleep(10);
            }
            Assert.IsNotNull(ping, "no ping sent");
            Assert.IsNull(client.Rtt);
            conn.Deliver(new ServerMessage { Pong = new Pong { Nonce = ping.Ping.Nonce, Tick = 77 } });
            deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (client.ServerTick != 77 && DateTime.UtcNow < deadline)
                Thread.Sleep(5);
            Assert.AreEqual(77, client.ServerTick);
            Assert.IsTrue(client.Rtt.HasValue && client.Rtt.Value >= TimeSpan.Zero);
        }

        [Test]
        public void ATickGapIsAServerBugThatEndsTheStream()
        {
            Start();
            var conn = transport.Next();
            conn.TakeHello();
            conn.Welcome(1);
            conn.Tick(1);
            conn.Tick(3);
            var closed = Until(ClientEventKind.Closed);
            Assert.AreEqual(1, closed.FindAll(e => e.Kind == ClientEventKind.Tick).Count);
            Assert.IsInstanceOf<TickGapException>(closed[closed.Count - 1].Error);
        }

        [Test]
        public void TheReconnectAttemptsRunOut()
        {
            Start(o => o.MaxAttempts = 2);
            var conn = transport.Next();
            conn.TakeHello();
            conn.Welcome(1);
            Until(ClientEventKind.Welcomed);
            transport.Refusing.Add(new Endpoint("entry", 7777));
            conn.Drop();
            var closed = Until(ClientEventKind.Closed);
            var error = closed[closed.Count - 1].Error;
            Assert.IsInstanceOf<ConnectionClosedException>(error);
            Assert.IsInstanceOf<IOException>(error.InnerException);
            Assert.AreEqual(3, transport.Dialed.Length);   // the first connection and two attempts
        }
    }
}
