// The anti-replay window of one direction of a UDP session, as IPsec and DTLS
// keep it: the highest seq accepted and a 64-bit bitmap of which of the 64
// seqs up to it were accepted. Check before using a datagram, record after
// every other check passed.
namespace Tickcast.Udp
{
    /// <summary>Refuses a datagram seq seen before or older than the 64 newest.</summary>
    public sealed class ReplayWindow
    {
        /// <summary>How many seqs up to <see cref="Top"/> the bitmap remembers.</summary>
        public const int Size = 64;

        ulong bits;   // bit i: seq Top - i was accepted

        /// <summary>The highest seq accepted (0 before the first).</summary>
        public uint Top { get; private set; }

        /// <summary>Whether <paramref name="seq"/> may be used: above <see cref="Top"/>, or within the
        /// window and not seen. Seq 0 is never valid (datagrams are numbered from 1).</summary>
        public bool Check(uint seq)
        {
            if (seq > Top)
                return true;
            if (seq == 0 || Top - seq >= Size)
                return false;
            return (bits & (1UL << (int)(Top - seq))) == 0;
        }

        /// <summary>Whether <paramref name="seq"/> would be the newest (above every seq recorded).</summary>
        public bool IsNewest(uint seq)
        {
            return seq > Top;
        }

        /// <summary>Marks <paramref name="seq"/> (which passed <see cref="Check"/>) as accepted.</summary>
        public void Record(uint seq)
        {
            if (seq > Top)
            {
                uint shift = seq - Top;
                bits = shift >= Size ? 1UL : (bits << (int)shift) | 1UL;
                Top = seq;
            }
            else
            {
                bits |= 1UL << (int)(Top - seq);
            }
        }
    }
}
