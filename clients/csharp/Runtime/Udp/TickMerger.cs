// Merges the ticks of a UDP session's two paths, the datagrams and the stream,
// into one sequence in number order with each tick once (docs/protocol.md,
// "Receiving a datagram", merging). Sans-I/O: datagrams and stream frames in,
// the ticks to apply next out.
using System.Collections.Generic;
using Tickcast.Protocol;

namespace Tickcast.Udp
{
    /// <summary>What to apply next: the tick <see cref="Number"/> (<see cref="Message"/>), or, when
    /// <see cref="Message"/> is null, every number up to <see cref="Number"/> not applied yet as an
    /// empty tick the room skipped (a datagram said so).</summary>
    public struct MergedTick
    {
        public MergedTick(ulong number, ServerMessage message, bool viaDatagram)
        {
            Number = number;
            Message = message;
            ViaDatagram = viaDatagram;
        }

        public ulong Number { get; private set; }

        /// <summary>The <c>ServerMessage{tick}</c>, or null for skipped numbers.</summary>
        public ServerMessage Message { get; private set; }

        /// <summary>The tick came in a datagram (not on the stream).</summary>
        public bool ViaDatagram { get; private set; }

        public bool IsSkip { get { return Message == null; } }
    }

    /// <summary>The client-side merge of datagram and stream ticks.</summary>
    /// <remarks>
    /// Keeps <see cref="Next"/> (the number of the next tick to apply), frames that arrived
    /// early (by number, all at or above <see cref="Next"/>), and the ranges of numbers a
    /// datagram covered (every covered number is a frame or an empty tick the room skipped).
    /// A stream frame N means every number below N that is neither applied nor kept was
    /// skipped: the server sends a tick on the stream only after every earlier tick the
    /// client has not acknowledged. Not thread-safe.
    /// </remarks>
    public sealed class TickMerger
    {
        /// <summary>The most frames kept early (a server's window is far smaller: 64 by default).</summary>
        public const int MaxKept = 4096;

        readonly SortedDictionary<ulong, MergedTick> kept = new SortedDictionary<ulong, MergedTick>();
        readonly List<KeyValuePair<ulong, ulong>> known = new List<KeyValuePair<ulong, ulong>>();

        /// <summary>Starts at <paramref name="next"/>: the resume point plus 1 (Welcome.first_tick).</summary>
        public TickMerger(ulong next)
        {
            Next = next;
        }

        /// <summary>The number of the next tick to apply; <c>Next - 1</c> is what the client acknowledges.</summary>
        public ulong Next { get; private set; }

        /// <summary>Frames held because an earlier number is still missing.</summary>
        public int Kept { get { return kept.Count; } }

        /// <summary>Ticks applied from datagrams and from the stream.</summary>
        public long ViaDatagram { get; private set; }
        public long ViaStream { get; private set; }

        /// <summary>Copies that arrived after the tick was applied or kept (both paths).</summary>
        public long Duplicates { get; private set; }

        /// <summary>Ticks whose first copy came in a datagram where it was not the newest frame: the
        /// datagram of its own tick was lost (or late), and the redundancy of the next one made up for it.</summary>
        public long Repaired { get; private set; }

        /// <summary>Takes a datagram's ticks; appends to <paramref name="apply"/> what can be applied now, in order.</summary>
        public void OnDatagram(ServerDatagram datagram, List<MergedTick> apply)
        {
            if (datagram.Span == 0)
                return;
            if (datagram.Newest < Next)
            {
                Duplicates += datagram.Frames.Count;
                return;   // everything in it was applied
            }
            if (kept.Count + datagram.Frames.Count > MaxKept)
                return;   // keep nothing of it rather than a range without its frames
            for (int i = 0; i < datagram.Frames.Count; i++)
            {
                var frame = datagram.Frames[i];
                if (frame.Number < Next || kept.ContainsKey(frame.Number))
                {
                    Duplicates++;
                    continue;
                }
                kept[frame.Number] = new MergedTick(frame.Number, frame.Message, true);
                if (i > 0)
                    Repaired++;
            }
            ulong first = datagram.First;
            known.Add(new KeyValuePair<ulong, ulong>(first > Next ? first : Next, datagram.Newest));
            Release(apply);
        }

        /// <summary>Takes tick <paramref name="number"/> from the stream; appends what can be applied now, in order.</summary>
        public void OnStream(ulong number, ServerMessage message, List<MergedTick> apply)
        {
            if (number < Next)
            {
                Duplicates++;
                return;
            }
            // every kept frame below it first (numbers between them were skipped)
            MergedTick early;
            while (TryFirstKept(out early) && early.Number <= number)
            {
                kept.Remove(early.Number);
                if (early.Number == number)
                {
                    Duplicates++;   // the datagram's copy: the stream's is the same bytes
                    break;
                }
                Emit(early, apply);
            }
            Emit(new MergedTick(number, message, false), apply);
            Release(apply);
        }

        void Release(List<MergedTick> apply)
        {
            while (true)
            {
                known.RemoveAll(range => range.Value < Next);   // wholly applied already (the stream went past it)
                int found = known.FindIndex(range => range.Key <= Next);
                if (found < 0)
                    return;
                ulong end = known[found].Value;
                known.RemoveAt(found);
                MergedTick early;
                while (TryFirstKept(out early) && early.Number <= end)
                {
                    kept.Remove(early.Number);
                    if (early.Number > Next)
                        apply.Add(new MergedTick(early.Number - 1, null, true));   // covered, no frame: skipped
                    Emit(early, apply);
                }
                if (Next <= end)
                {
                    apply.Add(new MergedTick(end, null, true));
                    Next = end + 1;
                }
            }
        }

        void Emit(MergedTick tick, List<MergedTick> apply)
        {
            apply.Add(tick);
            Next = tick.Number + 1;
            if (tick.ViaDatagram)
                ViaDatagram++;
            else
                ViaStream++;
        }

        bool TryFirstKept(out MergedTick first)
        {
            foreach (var entry in kept)
            {
                first = entry.Value;
                return true;
            }
            first = default(MergedTick);
            return false;
        }
    }
}
