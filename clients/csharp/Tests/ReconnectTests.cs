// The reconnect policy without sockets or clock: backoff with jitter, redirects,
// back to the entry point, and which failures end the stream. And the typed
// error of every Kick reason.
using System;
using System.IO;
using NUnit.Framework;

namespace Tickcast.Tests
{
    [TestFixture]
    public class ReconnectTests
    {
        static readonly Endpoint Entry = new Endpoint("127.0.0.1", 7777);

        static ReconnectPlanner Planner(double jitter = 0.0, int maxAttempts = 12, int maxRedirects = 3, bool reconnect = true)
        {
            return new ReconnectPlanner(Entry, maxAttempts, maxRedirects, TimeSpan.FromMilliseconds(50),
                TimeSpan.FromSeconds(2), reconnect, () => jitter);
        }

        [Test]
        public void BackoffDoublesUpToItsMaximumWithJitterBetweenHalfAndAll()
        {
            var initial = TimeSpan.FromMilliseconds(50);
            var max = TimeSpan.FromSeconds(2);
            double[] full = { 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0 };
            for (int attempt = 0; attempt < full.Length; attempt++)
            {
                Assert.AreEqual(full[attempt] / 2, ReconnectPlanner.BackoffDelay(attempt, initial, max, 0.0).TotalSeconds, 1e-9);
                double top = ReconnectPlanner.BackoffDelay(attempt, initial, max, 0.999999).TotalSeconds;
                Assert.IsTrue(top < full[attempt] && top > full[attempt] * 0.99, "attempt " + attempt + ": " + top);
            }
            Assert.AreEqual(2.0, ReconnectPlanner.BackoffDelay(1000, initial, max, 1.0).TotalSeconds, 1e-9);
        }

        [Test]
        public void ADroppedConnectionIsRetriedWithGrowingDelaysUntilTheAttemptsRunOut()
        {
            var planner = Planner(jitter: 1.0, maxAttempts: 3);
            Assert.AreEqual(TimeSpan.Zero, planner.Start().Delay);
            planner.OnWelcomed();
            var reset = new IOException("connection reset");
            var first = planner.ConnectionLost(reset, true);
            Assert.IsFalse(first.GiveUp);
            Assert.AreEqual(Entry, first.Target);
            Assert.AreEqual(0.05, first.Delay.TotalSeconds, 1e-9);
            Assert.AreEqual(0.1, planner.DialFailed(reset).Delay.TotalSeconds, 1e-9);
            Assert.AreEqual(0.2, planner.DialFailed(reset).Delay.TotalSeconds, 1e-9);
            var end = planner.DialFailed(reset);
            Assert.IsTrue(end.GiveUp);
            Assert.IsInstanceOf<ConnectionClosedException>(end.Error);
            Assert.AreSame(reset, end.Error.InnerException);
            // a Welcome starts the count again
            planner.OnWelcomed();
            Assert.AreEqual(0.05, planner.ConnectionLost(reset, true).Delay.TotalSeconds, 1e-9);
        }

        [Test]
        public void NothingListeningAtTheEntryPointBeforeAnyWelcomeFailsAtOnce()
        {
            var planner = Planner();
            var refused = new IOException("refused");
            var decision = planner.DialFailed(refused);
            Assert.IsTrue(decision.GiveUp);
            Assert.IsInstanceOf<ConnectionClosedException>(decision.Error);
            // but a handshake that failed (the server was there) is retried
            Assert.IsFalse(Planner().ConnectionLost(refused, false).GiveUp);
        }

        [Test]
        public void RedirectsAreFollowedAtOnceAFewTimesInARow()
        {
            var planner = Planner(maxRedirects: 2);
            var hop1 = planner.ConnectionLost(new RedirectException("not here", "10.0.0.2:7001"), false);
            Assert.AreEqual(new Endpoint("10.0.0.2", 7001), hop1.Target);
            Assert.AreEqual(TimeSpan.Zero, hop1.Delay);
            Assert.AreEqual(new Endpoint("::1", 7002), planner.ConnectionLost(new RedirectException("", "[::1]:7002"), false).Target);
            var third = planner.ConnectionLost(new RedirectException("", "10.0.0.3:7003"), false);
            Assert.IsTrue(third.GiveUp);
            Assert.IsInstanceOf<RedirectException>(third.Error);
            Assert.IsTrue(Planner().ConnectionLost(new RedirectException("", "nonsense"), false).Error is RemoteProtocolException);
        }

        [Test]
        public void WhenTheRedirectTargetIsGoneTheClientAsksTheEntryPointAgain()
        {
            var planner = Planner();
            planner.ConnectionLost(new RedirectException("", "10.0.0.2:7001"), false);
            planner.OnWelcomed();
            Assert.AreEqual(new Endpoint("10.0.0.2", 7001), planner.Current);
            // a retried kick from the owner: resume at the owner
            Assert.AreEqual(new Endpoint("10.0.0.2", 7001), planner.ConnectionLost(new ServerShutdownException("bye"), true).Target);
            // the owner is unreachable: back to the entry point (which redirects again if need be)
            var back = planner.DialFailed(new IOException("refused"));
            Assert.IsFalse(back.GiveUp);
            Assert.AreEqual(Entry, back.Target);
            Assert.AreEqual(0, planner.Redirects);
        }

        [Test]
        public void OnlyTheDocumentedKicksAreRetriedAndOtherErrorsEndTheStream()
        {
            foreach (KickReason reason in Enum.GetValues(typeof(KickReason)))
            {
                var kicked = KickedException.From(reason, "why", "127.0.0.1:1");
                bool retried = reason == KickReason.SlowConsumer || reason == KickReason.ServerShutdown
                    || reason == KickReason.IdleTimeout || reason == KickReason.HandshakeTimeout || reason == KickReason.RateLimited;
                Assert.AreEqual(retried, kicked.Retried, kicked.ReasonName);
                Assert.AreEqual(!retried && reason != KickReason.Redirect, ReconnectPlanner.IsTerminal(kicked), kicked.ReasonName);
                var decision = Planner().ConnectionLost(kicked, true);
                Assert.AreEqual(!retried && reason != KickReason.Redirect, decision.GiveUp, kicked.ReasonName);
                if (decision.GiveUp)
                    Assert.AreSame(kicked, decision.Error);
            }
            Assert.IsTrue(ReconnectPlanner.IsTerminal(new TickGapException(3, 5)));
            Assert.IsTrue(ReconnectPlanner.IsTerminal(new RemoteProtocolException("bad frame")));
            Assert.IsFalse(ReconnectPlanner.IsTerminal(new IOException("reset")));
            Assert.IsFalse(ReconnectPlanner.IsTerminal(new TimeoutException("silent")));
            Assert.IsTrue(ReconnectPlanner.IsTerminal(KickedException.From((KickReason)99, "newer")));
        }

        [Test]
        public void WithoutReconnectALostWelcomedConnectionEndsTheStream()
        {
            var reset = new IOException("reset");
            Assert.AreSame(reset, Planner(reconnect: false).ConnectionLost(reset, true).Error);
            Assert.IsFalse(Planner(reconnect: false).ConnectionLost(reset, false).GiveUp);
        }

        [Test]
        public void EveryKickReasonHasItsOwnExceptionType()
        {
            var expected = new[]
            {
                typeof(KickedException), typeof(ProtocolErrorException), typeof(HandshakeTimeoutException),
                typeof(AuthFailedException), typeof(ReplacedException), typeof(SlowConsumerException),
                typeof(RateLimitedException), typeof(FrameTooLargeException), typeof(RoomFullException),
                typeof(ResumeUnavailableException), typeof(ServerShutdownException), typeof(IdleTimeoutException),
                typeof(VersionMismatchException), typeof(RoomClosedException), typeof(RedirectException),
            };
            var names = new[]
            {
                "UNSPECIFIED", "PROTOCOL_ERROR", "HANDSHAKE_TIMEOUT", "AUTH_FAILED", "REPLACED", "SLOW_CONSUMER",
                "RATE_LIMITED", "FRAME_TOO_LARGE", "ROOM_FULL", "RESUME_UNAVAILABLE", "SERVER_SHUTDOWN",
                "IDLE_TIMEOUT", "VERSION_MISMATCH", "ROOM_CLOSED", "REDIRECT",
            };
            Assert.AreEqual(expected.Length, Enum.GetValues(typeof(KickReason)).Length);
            for (int i = 0; i < expected.Length; i++)
            {
                var e = KickedException.From((KickReason)i, "detail " + i, "h:1");
                Assert.AreEqual(expected[i], e.GetType());
                Assert.AreEqual((KickReason)i, e.Reason);
                Assert.AreEqual(names[i], e.ReasonName);
                Assert.AreEqual("detail " + i, e.Detail);
                Assert.AreEqual("kicked: " + names[i] + ": detail " + i, e.Message);
            }
            var unknown = KickedException.From((KickReason)42, "");
            Assert.AreEqual(typeof(KickedException), unknown.GetType());
            Assert.AreEqual("REASON_42", unknown.ReasonName);
            Assert.AreEqual("h:1", KickedException.From(KickReason.Redirect, "", "h:1").Redirect);
        }

        [Test]
        public void EndpointsParseLikeKickRedirect()
        {
            Assert.AreEqual(new Endpoint("node-2.internal", 7777), Endpoint.Parse("node-2.internal:7777"));
            Assert.AreEqual(new Endpoint("::1", 80), Endpoint.Parse("[::1]:80"));
            Assert.AreEqual("[::1]:80", Endpoint.Parse("[::1]:80").ToString());
            Assert.AreEqual("a:1", new Endpoint("a", 1).ToString());
            foreach (var bad in new[] { "", "host", "host:", ":80", "host:0", "host:65536", "host:-1", "host:8o" })
            {
                Endpoint e;
                Assert.IsFalse(Endpoint.TryParse(bad, out e), bad);
            }
        }
    }
}
