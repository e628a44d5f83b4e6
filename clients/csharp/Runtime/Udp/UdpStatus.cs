using System;

namespace Tickcast.Udp
{
    /// <summary>A snapshot of a client's UDP path (<see cref="TickcastClient.Udp"/>): the current
    /// session's mode and the counters of all its sessions so far (one per welcomed connection).</summary>
    public sealed class UdpStatus
    {
        /// <summary>The current connection's UDP session mode; null when it has none (not asked, not offered, or between connections).</summary>
        public UdpMode? Mode { get; internal set; }

        /// <summary>The round trip of the last ping answered by datagram, in the current session.</summary>
        public TimeSpan? Rtt { get; internal set; }

        /// <summary>UDP sessions opened (offers used).</summary>
        public int Sessions { get; private set; }

        public long DatagramsSent { get; private set; }
        public long DatagramsReceived { get; private set; }
        public long BytesSent { get; private set; }
        public long BytesReceived { get; private set; }

        /// <summary>Received datagrams dropped by a check (size, kind, session, MAC, replay, body).</summary>
        public long Refused { get; private set; }

        /// <summary>Times a session fell back to the stream (no valid datagram for the silence timeout, or none at all while probing).</summary>
        public int Fallbacks { get; private set; }

        /// <summary>Ticks applied that came by datagram, and by the stream, while a session was open.</summary>
        public long TicksViaDatagram { get; private set; }
        public long TicksViaStream { get; private set; }

        /// <summary>Second copies of ticks (both paths, or repeated datagrams), dropped by the merge.</summary>
        public long DuplicateTicks { get; private set; }

        /// <summary>Ticks that a later datagram brought because the datagram of their own tick was lost or late.</summary>
        public long RepairedTicks { get; private set; }

        internal void Add(UdpSession s)
        {
            Sessions++;
            DatagramsSent += s.DatagramsSent;
            DatagramsReceived += s.DatagramsReceived;
            BytesSent += s.BytesSent;
            BytesReceived += s.BytesReceived;
            Refused += s.RefusedTotal;
            Fallbacks += s.Fallbacks;
            TicksViaDatagram += s.TicksViaDatagram;
            TicksViaStream += s.TicksViaStream;
            DuplicateTicks += s.DuplicateTicks;
            RepairedTicks += s.RepairedTicks;
        }

        internal UdpStatus Copy()
        {
            return (UdpStatus)MemberwiseClone();
        }
    }
}
