// TickcastClient with a UDP session, over the in-memory transports (the test
// plays both the stream and the datagram side of the server): ticks from both
// paths reach Poll in order and once, inputs take the datagram while active and
// the stream after a fallback, one session per connection, no UDP unless asked
// and offered.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Tickcast.Protocol;
using Tickcast.Udp;

namespace Tickcast.Tests
{
    [TestFixture]
    public class ClientUdpTests
    {
        FakeTransport transport;
        FakeDatagramTransport datagrams;
        TickcastClient client;

        [SetUp]
        public void Create()
        {
            transport = new FakeTransport();
            datagrams = new FakeDatagramTransport();
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
                Host = "127.0.0.1",
                Port = 7777,
                PlayerId = "cy",
                Room = "r",
                Transport = transport,
                DatagramTransport = datagrams,
                Udp = true,
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

        /// <summary>The server's side of one UDP session.</summary>
        sealed class Peer : IDisposable
        {
            public readonly byte[] SessionId;
            public readonly byte[] KeyBytes;
            readonly DatagramKey key;
            readonly ReplayWindow window = new ReplayWindow();
            uint seq;

            public Peer(byte tag)
            {
                SessionId = Enumerable.Range(0, 8).Select(i => (byte)(tag + i)).ToArray();
                KeyBytes = Enumerable.Range(0, 32).Select(i => (byte)(tag * 3 + i)).ToArray();
                key = new DatagramKey(KeyBytes);
            }

            public UdpOffer Offer(string host = "127.0.0.1", uint port = 7777)
            {
                return new UdpOffer { Version = 1, Port = port, Host = host, SessionId = SessionId, Key = KeyBytes };
            }

            public ClientDatagram Read(byte[] data)
            {
                ClientDatagram d;
                Assert.AreEqual(DatagramRefusal.None, Datagram.ReadClient(data, 0, data.Length, SessionId, key, window, out d));
                return d;
            }

            public byte[] Make(ulong newest, ulong span, byte[] challenge, ulong? pong, params Protocol.Tick[] ticks)
            {
                var frames = ticks.OrderByDescending(t => t.Number).Select(t => Framing.Frame(new ServerMessage { Tick = t }.Encode())).ToList();
                return Datagram.EncodeServer(SessionId, key, ++seq, newest, span, challenge, pong, frames);
            }

            public void Dispose()
            {
                key.Dispose();
            }
        }

        static Protocol.Tick T(ulong number, params RelayedInput[] inputs)
        {
            var tick = new Protocol.Tick { Number = number };
            tick.Inputs.AddRange(inputs);
            return tick;
        }

        void Welcome(FakeConnection connection, ulong firstTick, UdpOffer offer, uint lastSeq = 0)
        {
            connection.Deliver(new ServerMessage
            {
                Welcome = new Welcome { Room = "r", Slot = 3, TickRate = 30, FirstTick = firstTick, LastSeq = lastSeq, ServerId = "fake", Udp = offer },
            });
        }

        List<ClientEvent> Until(Func<ClientEvent, bool> wanted, string what)
        {
            return Events.Until(client, wanted, what);
        }

        List<ClientEvent> UntilTick(ulong number)
        {
            return Until(e => e.Kind == ClientEventKind.Tick && e.Tick.Number == number, "tick " + number);
        }

        List<ClientEvent> UntilMode(UdpMode mode)
        {
            return Until(e => e.Kind == ClientEventKind.UdpModeChanged && e.UdpMode == mode, "UDP " + mode);
        }

        /// <summary>Datagrams until one satisfies <paramref name="wanted"/> (acks and keepalives in between).</summary>
        static ClientDatagram TakeUntil(Peer peer, FakeLink link, Func<ClientDatagram, bool> wanted)
        {
            while (true)
            {
                var d = peer.Read(link.Take());
                if (wanted(d))
                    return d;
            }
        }

        [Test]
        public void TicksOfBothPathsReachPollOnceInOrderAndInputsTakeTheDatagram()
        {
            using (var peer = new Peer(0x10))
            {
                Start();
                var connection = transport.Next();
                Assert.AreEqual(1u, connection.TakeHello().UdpVersion, "asks for UDP");
                Welcome(connection, 1, peer.Offer());
                var link = datagrams.Next();
                Assert.AreEqual("127.0.0.1:7777", link.Remote.ToString());
                var probe = peer.Read(link.Take());
                Assert.IsFalse(probe.Active);
                Assert.AreEqual(0ul, probe.Received);
                var events = UntilMode(UdpMode.Probing);
                Assert.AreEqual(ClientEventKind.Welcomed, events[0].Kind);

                var challenge = new byte[] { 9, 8, 7, 6, 5, 4, 3, 2 };
                link.Deliver(peer.Make(0, 0, challenge, probe.Ping));
                var active = peer.Read(link.Take());
                Assert.IsTrue(active.Active);
                Assert.AreEqual(Hex.Of(challenge), Hex.Of(active.Response));
                UntilMode(UdpMode.Active);
                Assert.AreEqual(UdpMode.Active, client.Udp.Mode);

                // 3 arrives before 1 and 2 (whose datagram was "lost"); the next datagram repairs them
                link.Deliver(peer.Make(3, 1, null, null, T(3)));
                link.Deliver(peer.Make(3, 3, null, null, T(3), T(2), T(1)));
                var ticks = UntilTick(3).Where(e => e.Kind == ClientEventKind.Tick).Select(e => e.Tick.Number).ToArray();
                Assert.AreEqual(new ulong[] { 1, 2, 3 }, ticks);
                Assert.AreEqual(3ul, TakeUntil(peer, link, d => d.Received == 3).Received, "acknowledged");

                // an input goes by datagram, not by the stream
                connection.Drain();
                uint seq = client.Send(Hex.Utf8("fire"));
                var withInput = TakeUntil(peer, link, d => d.Inputs.Count > 0);
                Assert.AreEqual(seq, withInput.Inputs.Single().Seq);
                Assert.IsFalse(connection.Drain().Any(m => m.Body == ClientBody.Input), "not on the stream");

                // the stream's copies: 3 again (dropped), 4 (applied), then the datagram's 4 (dropped)
                var tick4 = T(4, new RelayedInput { Slot = 3, Seq = seq, Payload = Hex.Utf8("fire") });
                connection.Tick(3);
                connection.Deliver(new ServerMessage { Tick = tick4 });
                var got = UntilTick(4);
                link.Deliver(peer.Make(4, 2, null, null, T(3), tick4));
                link.Deliver(peer.Make(5, 1, null, null, T(5)));
                got.AddRange(UntilTick(5));
                ticks = got.Where(e => e.Kind == ClientEventKind.Tick).Select(e => e.Tick.Number).ToArray();
                Assert.AreEqual(new ulong[] { 4, 5 }, ticks);
                Assert.AreEqual(0, client.PendingInputs, "confirmed by the stream's tick 4");
                var status = client.Udp;
                Assert.AreEqual(4L, status.TicksViaDatagram);
                Assert.AreEqual(1L, status.TicksViaStream);
                Assert.IsTrue(status.DuplicateTicks >= 2);
                Assert.AreEqual(0L, status.Refused);
                Assert.IsTrue(client.Udp.Rtt.HasValue, "the probe's pong");
            }
        }

        [Test]
        public void AFallbackWritesTheUnconfirmedInputsOnTheStreamAndAPongBringsUdpBack()
        {
            using (var peer = new Peer(0x20))
            {
                Start(o => o.UdpTimers = new UdpTimers
                {
                    Silence = TimeSpan.FromMilliseconds(600),
                    FallbackProbeInterval = TimeSpan.FromMilliseconds(100),
                    Keepalive = TimeSpan.FromMilliseconds(50),
                    PingInterval = TimeSpan.FromMilliseconds(50),
                });
                var connection = transport.Next();
                connection.TakeHello();
                Welcome(connection, 1, peer.Offer());
                var link = datagrams.Next();
                var probe = peer.Read(link.Take());
                link.Deliver(peer.Make(0, 0, null, probe.Ping));
                UntilMode(UdpMode.Active);
                connection.Drain();
                uint seq = client.Send(Hex.Utf8("a"));
                TakeUntil(peer, link, d => d.Inputs.Count == 1);
                // the server goes silent
                UntilMode(UdpMode.Fallback);
                var input = connection.Take();
                Assert.AreEqual(ClientBody.Input, input.Body, "the unconfirmed input, on the stream now");
                Assert.AreEqual(seq, input.Input.Seq);
                uint seq2 = client.Send(Hex.Utf8("b"));
                var next = connection.Take();
                Assert.AreEqual(seq2, next.Input.Seq, "and new ones too, while fallen back");
                // a fallback probe is answered: active again
                var fallbackProbe = TakeUntil(peer, link, d => !d.Active && d.Ping.HasValue);
                link.Deliver(peer.Make(0, 0, null, fallbackProbe.Ping));
                UntilMode(UdpMode.Active);
                Assert.IsTrue(TakeUntil(peer, link, d => d.Active).Active);
                Assert.AreEqual(1, client.Udp.Fallbacks);
            }
        }

        [Test]
        public void EachConnectionHasItsOwnSessionAndAResumeUsesOnlyTheNewOffer()
        {
            using (var first = new Peer(0x30))
            using (var second = new Peer(0x40))
            {
                Start();
                var c1 = transport.Next();
                c1.TakeHello();
                Welcome(c1, 1, first.Offer());
                var l1 = datagrams.Next();
                var probe = first.Read(l1.Take());
                l1.Deliver(first.Make(0, 0, null, probe.Ping));
                l1.Deliver(first.Make(2, 2, null, null, T(2), T(1)));
                UntilTick(2);
                c1.Drop();
                var c2 = transport.Next();
                var hello = c2.TakeHello();
                Assert.AreEqual(2ul, hello.ResumeAfter);
                Assert.AreEqual(1u, hello.UdpVersion);
                Assert.IsTrue(l1.Disposed, "the old session ended with its connection");
                Welcome(c2, 3, second.Offer());
                var l2 = datagrams.Next();
                var probe2 = second.Read(l2.Take());
                Assert.AreEqual(1u, probe2.Seq, "a new session numbers from 1");
                Assert.AreEqual(2ul, probe2.Received);
                // a datagram of the old session is refused
                l2.Deliver(first.Make(3, 1, null, null, T(3)));
                l2.Deliver(second.Make(3, 1, null, probe2.Ping, T(3)));
                var events = UntilTick(3);
                Assert.AreEqual(1, events.Count(e => e.Kind == ClientEventKind.Tick && e.Tick.Number == 3));
                Assert.AreEqual(1L, client.Udp.Refused, "the old session's datagram");
                Assert.AreEqual(2, client.Udp.Sessions);
            }
        }

        [Test]
        public void WithoutAskingThereIsNoUdpAndAnUnusableOfferIsIgnored()
        {
            using (var peer = new Peer(0x50))
            {
                Start(o => o.Udp = false);
                var connection = transport.Next();
                Assert.AreEqual(0u, connection.TakeHello().UdpVersion, "a v1 client's Hello");
                Welcome(connection, 1, peer.Offer());
                connection.Tick(1);
                UntilTick(1);
                Assert.AreEqual(0, datagrams.Opened);
                Assert.IsNull(client.Udp.Mode);
                client.Close(false);

                transport = new FakeTransport();
                Start();
                connection = transport.Next();
                connection.TakeHello();
                var offer = peer.Offer();
                offer.Version = 2;
                Welcome(connection, 1, offer);
                connection.Tick(1);
                connection.Tick(2);
                UntilTick(2);
                Assert.AreEqual(0, datagrams.Opened, "a version this client does not speak");
                client.Send(Hex.Utf8("x"));
                Assert.AreEqual(ClientBody.Input, connection.Take().Body, "inputs by the stream");
            }
        }

        [Test]
        public void AnEmptyHostMeansTheStreamsHost()
        {
            using (var peer = new Peer(0x60))
            {
                Start(o => o.Host = "127.0.0.1");
                var connection = transport.Next();
                connection.TakeHello();
                Welcome(connection, 1, peer.Offer("", 9999));
                Assert.AreEqual("127.0.0.1:9999", datagrams.Next().Remote.ToString());
            }
        }

        [Test]
        public void ASkippedTickWithoutSkipEmptyTicksEndsTheStreamAsOnTcp()
        {
            using (var peer = new Peer(0x70))
            {
                Start();
                var connection = transport.Next();
                connection.TakeHello();
                Welcome(connection, 1, peer.Offer());
                var link = datagrams.Next();
                var probe = peer.Read(link.Take());
                link.Deliver(peer.Make(3, 3, null, probe.Ping, T(3)));   // 1 and 2 skipped
                var events = Until(e => e.Kind == ClientEventKind.Closed, "Closed");
                Assert.IsInstanceOf<TickGapException>(events.Last().Error);
            }
        }

        [Test]
        public void WithSkipEmptyTicksCoveredNumbersAreEmptyTicks()
        {
            using (var peer = new Peer(0x80))
            {
                Start(o => o.SkipEmptyTicks = true);
                var connection = transport.Next();
                connection.TakeHello();
                Welcome(connection, 1, peer.Offer());
                var link = datagrams.Next();
                var probe = peer.Read(link.Take());
                link.Deliver(peer.Make(3, 3, null, probe.Ping, T(3)));
                link.Deliver(peer.Make(5, 2, null, null));   // 4 and 5 skipped: known without a frame
                var ticks = UntilTick(5).Where(e => e.Kind == ClientEventKind.Tick).Select(e => e.Tick).ToList();
                Assert.AreEqual(new ulong[] { 1, 2, 3, 4, 5 }, ticks.Select(t => t.Number).ToArray());
                Assert.IsTrue(ticks[0].IsEmpty && ticks[3].IsEmpty && ticks[4].IsEmpty);
                Assert.AreEqual(5ul, client.ReceivedTick);
            }
        }
    }
}
