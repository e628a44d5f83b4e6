// Sans-I/O decisions of the connection layer: where to connect next and after
// how long, after a connection or an attempt failed. Exponential backoff with
// jitter, redirects (at most a few in a row), back to the entry point when the
// node a redirect named is gone, and which failures end the stream.
using System;
using System.Globalization;
using System.IO;
using System.Net.Sockets;

namespace Tickcast
{
    /// <summary>A server address: host (name or IP) and port.</summary>
    public sealed class Endpoint : IEquatable<Endpoint>
    {
        public Endpoint(string host, int port)
        {
            if (string.IsNullOrEmpty(host))
                throw new ArgumentException("empty host", "host");
            if (port <= 0 || port > 65535)
                throw new ArgumentOutOfRangeException("port", port, "a port is 1..65535");
            Host = host;
            Port = port;
        }

        public string Host { get; private set; }
        public int Port { get; private set; }

        /// <summary>Parses "host:port", "[v6]:port" or "v6:port" (the last colon separates the port),
        /// as in <c>Kick.redirect</c>.</summary>
        public static Endpoint Parse(string address)
        {
            Endpoint endpoint;
            if (!TryParse(address, out endpoint))
                throw new RemoteProtocolException("bad address \"" + address + "\" (expected host:port)");
            return endpoint;
        }

        public static bool TryParse(string address, out Endpoint endpoint)
        {
            endpoint = null;
            if (string.IsNullOrEmpty(address))
                return false;
            int colon = address.LastIndexOf(':');
            if (colon <= 0 || colon == address.Length - 1)
                return false;
            string host = address.Substring(0, colon);
            if (host.StartsWith("[", StringComparison.Ordinal) && host.EndsWith("]", StringComparison.Ordinal))
                host = host.Substring(1, host.Length - 2);
            int port;
            if (host.Length == 0 || !int.TryParse(address.Substring(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port)
                || port <= 0 || port > 65535)
                return false;
            endpoint = new Endpoint(host, port);
            return true;
        }

        public bool Equals(Endpoint other)
        {
            return other != null && other.Port == Port && string.Equals(other.Host, Host, StringComparison.OrdinalIgnoreCase);
        }

        public override bool Equals(object obj)
        {
            return Equals(obj as Endpoint);
        }

        public override int GetHashCode()
        {
            return StringComparer.OrdinalIgnoreCase.GetHashCode(Host) * 31 + Port;
        }

        public override string ToString()
        {
            return Host.IndexOf(':') >= 0 ? "[" + Host + "]:" + Port : Host + ":" + Port;
        }
    }

    /// <summary>What the connection layer does next: connect to <see cref="Target"/> after
    /// <see cref="Delay"/>, or give up and end the stream with <see cref="Error"/>.</summary>
    public sealed class ReconnectDecision
    {
        ReconnectDecision(Endpoint target, TimeSpan delay, Exception error)
        {
            Target = target;
            Delay = delay;
            Error = error;
        }

        public Endpoint Target { get; private set; }
        public TimeSpan Delay { get; private set; }
        public Exception Error { get; private set; }
        public bool GiveUp { get { return Error != null; } }

        public static ReconnectDecision Connect(Endpoint target, TimeSpan delay)
        {
            return new ReconnectDecision(target, delay, null);
        }

        public static ReconnectDecision Fail(Exception error)
        {
            return new ReconnectDecision(null, TimeSpan.Zero, error);
        }

        public override string ToString()
        {
            return GiveUp ? "give up: " + Error.Message : "connect to " + Target + " after " + Delay.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture) + " s";
        }
    }

    /// <summary>The reconnect policy of one client, without I/O or clock (the random source is given).</summary>
    /// <remarks>
    /// Delays double from <c>initial</c> up to <c>max</c>, each drawn uniformly from
    /// [delay/2, delay) so that many clients dropped at once do not come back at once.
    /// The count of failed attempts, and of redirects in a row, restart at every Welcome.
    /// </remarks>
    public sealed class ReconnectPlanner
    {
        readonly Endpoint entry;
        readonly int maxAttempts;
        readonly int maxRedirects;
        readonly TimeSpan initial;
        readonly TimeSpan max;
        readonly bool reconnect;
        readonly Func<double> random;

        /// <summary>A policy starting at <c>entry</c>; <c>random</c> (uniform in [0, 1)) is the jitter;
        /// with <c>reconnect</c> false a welcomed connection that is lost ends the stream.</summary>
        public ReconnectPlanner(Endpoint entry, int maxAttempts, int maxRedirects, TimeSpan initial, TimeSpan max,
            bool reconnect, Func<double> random)
        {
            if (entry == null)
                throw new ArgumentNullException("entry");
            this.entry = entry;
            this.maxAttempts = maxAttempts;
            this.maxRedirects = maxRedirects;
            this.initial = initial;
            this.max = max;
            this.reconnect = reconnect;
            this.random = random;
            Current = entry;
        }

        /// <summary>Where the client connects (the entry point, or where a redirect sent it).</summary>
        public Endpoint Current { get; private set; }

        /// <summary>The address the client was created with (a load balancer, any cluster node).</summary>
        public Endpoint Entry { get { return entry; } }

        /// <summary>Failed attempts since the last Welcome.</summary>
        public int Attempts { get; private set; }

        /// <summary>Redirects followed since the last Welcome.</summary>
        public int Redirects { get; private set; }

        public bool EverWelcomed { get; private set; }

        /// <summary>The first connection, to <see cref="Current"/> at once.</summary>
        public ReconnectDecision Start()
        {
            return ReconnectDecision.Connect(Current, TimeSpan.Zero);
        }

        /// <summary>A connection was welcomed: the counts start again.</summary>
        public void OnWelcomed()
        {
            EverWelcomed = true;
            Attempts = 0;
            Redirects = 0;
        }

        /// <summary>No connection could be made to <see cref="Current"/> (refused, unreachable, timed out).</summary>
        /// <remarks>Before any Welcome, nothing listening at the entry point ends the stream at
        /// once: a wrong address should fail loudly rather than retry for a minute.</remarks>
        public ReconnectDecision DialFailed(Exception error)
        {
            if (!EverWelcomed && Current.Equals(entry))
                return ReconnectDecision.Fail(new ConnectionClosedException("cannot connect to " + entry + ": " + error.Message, error));
            return Retry(error);
        }

        /// <summary>A connection ended with <paramref name="failure"/> (a Kick, a transport error, a
        /// protocol error), <paramref name="welcomed"/> or still in its handshake.</summary>
        public ReconnectDecision ConnectionLost(Exception failure, bool welcomed)
        {
            if (IsTerminal(failure))
                return ReconnectDecision.Fail(failure);
            var kicked = failure as KickedException;
            if (kicked != null && kicked.Reason == KickReason.Redirect)
            {
                if (Redirects >= maxRedirects)
                    return ReconnectDecision.Fail(new RedirectException("more than " + maxRedirects + " redirects in a row (last: " + kicked.Detail + ")", kicked.Redirect));
                Endpoint target;
                if (!Endpoint.TryParse(kicked.Redirect, out target))
                    return ReconnectDecision.Fail(new RemoteProtocolException("bad redirect address \"" + kicked.Redirect + "\""));
                Redirects++;
                Current = target;
                return ReconnectDecision.Connect(target, TimeSpan.Zero);
            }
            if (welcomed && !reconnect)
                return ReconnectDecision.Fail(failure);
            return Retry(failure);
        }

        ReconnectDecision Retry(Exception failure)
        {
            if (IsTransportError(failure) && !Current.Equals(entry))
            {
                // the node a redirect sent us to is gone: ask the entry point again
                Current = entry;
                Redirects = 0;
            }
            if (Attempts >= maxAttempts)
                return ReconnectDecision.Fail(new ConnectionClosedException("gave up after " + Attempts + " reconnect attempts: " + failure.Message, failure));
            var delay = BackoffDelay(Attempts, initial, max, random());
            Attempts++;
            return ReconnectDecision.Connect(Current, delay);
        }

        /// <summary>The wait before attempt <paramref name="attempt"/> (0-based):
        /// <c>min(max, initial * 2^attempt)</c> scaled by a jitter factor in [0.5, 1).</summary>
        public static TimeSpan BackoffDelay(int attempt, TimeSpan initial, TimeSpan max, double unit)
        {
            double seconds = initial.TotalSeconds * Math.Pow(2, Math.Min(attempt, 62));
            seconds = Math.Min(max.TotalSeconds, seconds);
            return TimeSpan.FromTicks((long)Math.Round(seconds * (0.5 + 0.5 * unit) * TimeSpan.TicksPerSecond));   // FromSeconds rounds to ms
        }

        /// <summary>Does this failure end the stream (instead of a reconnect)? Kicks after which
        /// resuming makes no sense, and every other tickcast error (a gap, a protocol violation).</summary>
        public static bool IsTerminal(Exception failure)
        {
            var kicked = failure as KickedException;
            if (kicked != null)
                return !kicked.Retried && kicked.Reason != KickReason.Redirect;
            return failure is TickcastException;
        }

        /// <summary>A network failure (reset, EOF, timeout, refused), as opposed to a Kick or a protocol error.</summary>
        public static bool IsTransportError(Exception failure)
        {
            return failure is IOException || failure is SocketException || failure is TimeoutException
                || failure is ObjectDisposedException;
        }
    }
}
