using System;

namespace Tickcast
{
    /// <summary>How a <see cref="TickcastClient"/> connects. Only <see cref="PlayerId"/> is required.</summary>
    public sealed class ClientOptions
    {
        /// <summary>The server (or any node of a cluster, or a load balancer in front of them).</summary>
        public string Host { get; set; } = "127.0.0.1";

        /// <summary>The server's TCP port (<c>tickcast serve --port</c>, 7777 by default).</summary>
        public int Port { get; set; } = 7777;

        /// <summary>This player's identity in the room, 1 to 64 bytes of UTF-8; its slot is stable for it.</summary>
        public string PlayerId { get; set; } = "";

        /// <summary>The room to join; "" is the server's default room ("lobby").</summary>
        public string Room { get; set; } = "";

        /// <summary>A JWT for <see cref="PlayerId"/> when the server runs with auth (from your game backend).</summary>
        public string Token { get; set; } = "";

        /// <summary>Watch only: no slot, no inputs, the same ticks.</summary>
        public bool Spectator { get; set; }

        /// <summary>Receive every tick since the room began (a late joiner that simulates from the start).</summary>
        public bool FullHistory { get; set; }

        /// <summary>Set it when the server runs with <c>--skip-empty-ticks</c>: missing numbers become empty ticks.</summary>
        public bool SkipEmptyTicks { get; set; }

        /// <summary>False: the first drop after a Welcome ends the stream instead of a resume.</summary>
        public bool Reconnect { get; set; } = true;

        /// <summary>Per connection attempt: the TCP connect, and the wait for the Welcome.</summary>
        public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

        /// <summary>Silence after which a connection counts as dead (the client pings, so a healthy one is never silent).</summary>
        public TimeSpan DeadAfter { get; set; } = TimeSpan.FromSeconds(10);

        /// <summary>Between pings: they measure the round trip and keep the server's idle timeout away.</summary>
        public TimeSpan PingInterval { get; set; } = TimeSpan.FromSeconds(1);

        /// <summary>The first reconnect backoff; it doubles per failed attempt up to <see cref="BackoffMax"/>, with jitter.</summary>
        public TimeSpan BackoffInitial { get; set; } = TimeSpan.FromMilliseconds(50);

        public TimeSpan BackoffMax { get; set; } = TimeSpan.FromSeconds(2);

        /// <summary>Failed reconnect attempts in a row before the stream ends with <see cref="ConnectionClosedException"/>.</summary>
        public int MaxAttempts { get; set; } = 12;

        /// <summary>Redirects (cluster) followed in a row.</summary>
        public int MaxRedirects { get; set; } = 3;

        /// <summary>How long <see cref="TickcastClient.Close"/> waits for the server to confirm a Leave.</summary>
        public TimeSpan LeaveTimeout { get; set; } = TimeSpan.FromSeconds(2);

        /// <summary>The transport; null is TCP (<see cref="TcpTransport"/>).</summary>
        public ITransport Transport { get; set; }

        /// <summary>Ask for a UDP session beside every connection (Hello.udp_version = 1): when the server
        /// offers one, ticks and inputs travel as authenticated datagrams, so a lost packet costs one tick
        /// interval instead of a TCP retransmission. The connection stays open as the control and fallback
        /// path; without an offer (or when datagrams do not pass) everything goes by the stream as usual.</summary>
        public bool Udp { get; set; }

        /// <summary>The datagram sockets of the UDP sessions; null is <see cref="Tickcast.Udp.UdpClientTransport"/>.</summary>
        public Tickcast.Udp.IDatagramTransport DatagramTransport { get; set; }

        /// <summary>The UDP modes' timers; null is the defaults (<see cref="Tickcast.Udp.UdpTimers"/>).</summary>
        public Tickcast.Udp.UdpTimers UdpTimers { get; set; }

        /// <summary>Seeds the backoff jitter (for reproducible tests); null picks a random seed per client.</summary>
        public int? Seed { get; set; }

        /// <summary>Diagnostics (connection lost, resuming, ...). Called on the client's connection
        /// thread, not the game's: in Unity, Debug.Log is fine here, touching scene objects is not.</summary>
        public Action<string> Log { get; set; }

        /// <summary>Hello.protocol_version: 1. Only a test of the server's VERSION_MISMATCH sets another value.</summary>
        public uint ProtocolVersion { get; set; } = ClientCore.Version;

        internal ClientOptions Copy()
        {
            return (ClientOptions)MemberwiseClone();
        }
    }
}
