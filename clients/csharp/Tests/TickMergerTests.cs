// The client-side merge of datagram and stream ticks: each tick exactly once, in
// order, under any loss, duplication and reordering of datagrams, with ticks
// handed over to the stream as the server does it (docs/protocol.md, "Merging
// ticks from both paths" and "What the server does").
using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using Tickcast.Protocol;
using Tickcast.Udp;

namespace Tickcast.Tests
{
    [TestFixture]
    public class TickMergerTests
    {
        static ServerMessage TickMessage(ulong number)
        {
            var tick = new Protocol.Tick { Number = number };
            tick.Inputs.Add(new RelayedInput { Slot = 1, Seq = (uint)number, Payload = new byte[] { (byte)number } });
            return ServerMessage.Decode(new ServerMessage { Tick = tick }.Encode());
        }

        static ServerDatagram Covering(ulong newest, ulong span, params ulong[] frames)
        {
            var d = new ServerDatagram { Newest = newest, Span = span };
            foreach (var n in frames.OrderByDescending(n => n))
                d.Frames.Add(new TickFrame(n, TickMessage(n), null));
            return d;
        }

        /// <summary>The numbers applied, with skipped ones as "-n" (a skip marker covers every number up to its own).</summary>
        sealed class Applied
        {
            public readonly List<string> Log = new List<string>();
            public ulong Last;

            public void Take(List<MergedTick> ticks)
            {
                foreach (var t in ticks)
                {
                    Assert.IsTrue(t.Number > Last || (t.IsSkip && t.Number >= Last), "applied " + t.Number + " after " + Last);
                    for (ulong k = Last + 1; k < t.Number; k++)
                        Log.Add("-" + k);
                    if (t.IsSkip)
                    {
                        if (t.Number > Last)
                            Log.Add("-" + t.Number);
                    }
                    else
                    {
                        Assert.AreEqual(t.Number, t.Message.Tick.Number);
                        Log.Add(t.Number.ToString());
                    }
                    Last = Math.Max(Last, t.Number);
                }
                ticks.Clear();
            }
        }

        [Test]
        public void DatagramTicksInOrderAreAppliedAtOnce()
        {
            var m = new TickMerger(130);
            var apply = new List<MergedTick>();
            var seen = new Applied { Last = 129 };
            m.OnDatagram(Covering(130, 1, 130), apply);
            seen.Take(apply);
            m.OnDatagram(Covering(131, 2, 131, 130), apply);   // 130 repeated: the ack had not arrived
            seen.Take(apply);
            Assert.AreEqual(new[] { "130", "131" }, seen.Log);
            Assert.AreEqual(132ul, m.Next);
            Assert.AreEqual(1L, m.Duplicates);
            Assert.AreEqual(2L, m.ViaDatagram);
        }

        [Test]
        public void ALostDatagramIsRepairedByTheNextAndEarlyTicksWait()
        {
            var m = new TickMerger(1);
            var apply = new List<MergedTick>();
            var seen = new Applied();
            m.OnDatagram(Covering(3, 1, 3), apply);      // 1 and 2 were in lost datagrams... (span 1: 3 only)
            seen.Take(apply);
            Assert.AreEqual(0, seen.Log.Count, "3 waits for 1 and 2");
            Assert.AreEqual(1, m.Kept);
            m.OnDatagram(Covering(4, 4, 4, 3, 2, 1), apply);   // ... and the next one carries them all
            seen.Take(apply);
            Assert.AreEqual(new[] { "1", "2", "3", "4" }, seen.Log);
            Assert.AreEqual(0, m.Kept);
        }

        [Test]
        public void CoveredNumbersWithoutAFrameAreSkippedTicks()
        {
            var m = new TickMerger(10);
            var apply = new List<MergedTick>();
            var seen = new Applied { Last = 9 };
            m.OnDatagram(Covering(14, 5, 14, 11), apply);   // 10, 12 and 13 were empty and skipped
            seen.Take(apply);
            Assert.AreEqual(new[] { "-10", "11", "-12", "-13", "14" }, seen.Log);
            m.OnDatagram(Covering(16, 2), apply);           // 15 and 16 skipped, nothing else
            seen.Take(apply);
            Assert.AreEqual(17ul, m.Next);
            Assert.AreEqual("-16", seen.Log.Last());
        }

        [Test]
        public void AStreamTickReleasesTheKeptOnesBelowItAndTheRangesAfterIt()
        {
            var m = new TickMerger(5);
            var apply = new List<MergedTick>();
            var seen = new Applied { Last = 4 };
            m.OnDatagram(Covering(9, 2, 9, 8), apply);   // 5..7 timed out to the stream
            seen.Take(apply);
            Assert.AreEqual(0, seen.Log.Count);
            m.OnStream(5, TickMessage(5), apply);
            m.OnStream(6, TickMessage(6), apply);
            seen.Take(apply);
            Assert.AreEqual(new[] { "5", "6" }, seen.Log);
            m.OnStream(7, TickMessage(7), apply);
            seen.Take(apply);
            Assert.AreEqual(new[] { "5", "6", "7", "8", "9" }, seen.Log);
            m.OnStream(8, TickMessage(8), apply);   // the stream may repeat what a datagram brought
            m.OnDatagram(Covering(9, 2, 9, 8), apply);
            seen.Take(apply);
            Assert.AreEqual(10ul, m.Next);
            Assert.AreEqual(5, seen.Log.Count);
            Assert.AreEqual(2L, m.ViaDatagram);
            Assert.AreEqual(3L, m.ViaStream);
        }

        [Test]
        public void AStreamTickAboveKeptOnesAppliesThemFirst()
        {
            var m = new TickMerger(5);
            var apply = new List<MergedTick>();
            var seen = new Applied { Last = 4 };
            m.OnDatagram(Covering(8, 2, 8, 7), apply);
            m.OnStream(9, TickMessage(9), apply);   // 5 and 6 were skipped: the stream never skips a tick we lack
            seen.Take(apply);
            Assert.AreEqual(new[] { "-5", "-6", "7", "8", "9" }, seen.Log);
        }

        /// <summary>A covered range that the stream went past must not pull <c>next</c> back (the doc's
        /// release() read literally would set next = b + 1 = 9 here, and apply tick 9 twice).</summary>
        [Test]
        public void ARangeTheStreamWentPastIsDroppedNotReapplied()
        {
            var m = new TickMerger(5);
            var apply = new List<MergedTick>();
            var seen = new Applied { Last = 4 };
            m.OnDatagram(Covering(8, 2), apply);     // 7 and 8 skipped; 5 and 6 (skipped too) went to the stream as nothing
            seen.Take(apply);
            Assert.AreEqual(5ul, m.Next);
            m.OnStream(10, TickMessage(10), apply);  // 9 skipped, 10 by the stream
            seen.Take(apply);
            Assert.AreEqual(11ul, m.Next);
            Assert.AreEqual(new[] { "-5", "-6", "-7", "-8", "-9", "10" }, seen.Log);
            m.OnDatagram(Covering(11, 1, 11), apply);
            seen.Take(apply);
            Assert.AreEqual(12ul, m.Next);
            Assert.AreEqual("11", seen.Log.Last());
        }

        [Test]
        public void OldAndDuplicateDatagramsChangeNothing()
        {
            var m = new TickMerger(1);
            var apply = new List<MergedTick>();
            var seen = new Applied();
            m.OnDatagram(Covering(2, 2, 2, 1), apply);
            m.OnDatagram(Covering(2, 2, 2, 1), apply);
            m.OnDatagram(Covering(1, 1, 1), apply);
            m.OnDatagram(Covering(2, 0), apply);
            seen.Take(apply);
            Assert.AreEqual(new[] { "1", "2" }, seen.Log);
            Assert.AreEqual(3ul, m.Next);
        }

        // ------------------------------------------------------------ the property

        /// <summary>A server that keeps the documented rules: a window of unacknowledged ticks, each datagram
        /// carrying the newest of them (as many as "fit"), a tick moved to the stream with every older tick of
        /// the window when it is too old or the window too long, and, while "fallen back", the stream only.
        /// Datagrams are lost, duplicated and reordered; acknowledgements are lost and delayed; the stream is
        /// reliable and in order but late. The merge must apply 1..T exactly once, in order, and every number
        /// it treats as skipped must really have been an empty tick the room skipped.</summary>
        [Test]
        public void AnyLossDuplicationAndReorderingYieldsEveryTickOnceInOrder()
        {
            int runs = 0;
            for (int seed = 1; seed <= 400; seed++)
            {
                Simulate(seed, skipEmpty: seed % 2 == 0);
                runs++;
            }
            Assert.AreEqual(400, runs);
        }

        static void Simulate(int seed, bool skipEmpty)
        {
            var rnd = new Random(seed);
            int total = 60 + rnd.Next(200);
            double loss = new[] { 0.0, 0.02, 0.1, 0.3, 0.6 }[rnd.Next(5)];
            double dup = rnd.NextDouble() * 0.2;
            double ackLoss = rnd.NextDouble() * 0.5;
            int maxDelay = 1 + rnd.Next(6);
            int timeoutSteps = 2 + rnd.Next(8);
            int windowMax = 4 + rnd.Next(30);
            int fit = 1 + rnd.Next(6);
            string where = "seed " + seed + " (loss " + loss + ", fit " + fit + ", timeout " + timeoutSteps + ")";

            var empty = new bool[total + 2];
            for (int n = 1; n < total; n++)
                empty[n] = skipEmpty && rnd.NextDouble() < 0.35;
            empty[total] = false;   // the last one has a frame: the client must learn of it
            var frames = new Dictionary<ulong, ServerMessage>();
            for (ulong n = 1; n <= (ulong)total; n++)
                if (!empty[n])
                    frames[n] = TickMessage(n);

            // server state
            ulong acked = 0, produced = 0;
            var window = new List<ulong>();            // unacknowledged, not moved: numbers ascending
            var bornAt = new Dictionary<ulong, int>();
            var stream = new Queue<KeyValuePair<int, ulong>>();   // (deliver at step, number)
            var net = new List<KeyValuePair<int, ServerDatagram>>();
            var acks = new List<KeyValuePair<int, ulong>>();
            bool fallen = false;

            var merger = new TickMerger(1);
            var apply = new List<MergedTick>();
            ulong last = 0;
            Action take = () =>
            {
                foreach (var t in apply)
                {
                    if (t.IsSkip)
                    {
                        for (ulong k = last + 1; k <= t.Number; k++)
                            Assert.IsTrue(empty[k], where + ": tick " + k + " treated as skipped but it had inputs");
                        last = Math.Max(last, t.Number);
                        continue;
                    }
                    Assert.IsTrue(t.Number > last, where + ": tick " + t.Number + " applied after " + last);
                    for (ulong k = last + 1; k < t.Number; k++)
                        Assert.IsTrue(empty[k], where + ": tick " + k + " jumped over but it had inputs");
                    Assert.AreEqual(Hex.Of(frames[t.Number].TickBytes.ToArray()), Hex.Of(t.Message.TickBytes.ToArray()), where);
                    last = t.Number;
                }
                apply.Clear();
            };

            int step = 0;
            for (; step < total * 20 && last < (ulong)total; step++)
            {
                // the room produces a tick (while there are ticks left)
                if (produced < (ulong)total)
                {
                    produced++;
                    window.Add(produced);
                    bornAt[produced] = step;
                }
                if (rnd.NextDouble() < 0.03)
                    fallen = !fallen;   // the client went silent, or came back
                // acknowledgements that reached the server
                foreach (var a in acks.Where(a => a.Key <= step).ToList())
                {
                    acks.Remove(a);
                    acked = Math.Max(acked, a.Value);
                }
                window.RemoveAll(n => n <= acked);
                // hand-over to the stream: too old, too many, or fallen back (then the whole window)
                int cut = -1;
                for (int i = 0; i < window.Count; i++)
                    if (fallen || step - bornAt[window[i]] >= timeoutSteps || window.Count - i > windowMax)
                        cut = i;
                for (int i = 0; i <= cut; i++)
                    if (!empty[window[i]])
                        stream.Enqueue(new KeyValuePair<int, ulong>(step + rnd.Next(maxDelay + 1), window[i]));
                if (cut >= 0)
                    window.RemoveRange(0, cut + 1);
                // a datagram with the newest window ticks, as many frames as fit
                if (!fallen && window.Count > 0)
                {
                    int i = window.Count - 1, framesIn = 0;
                    while (i >= 0 && (empty[window[i]] || framesIn < fit))
                    {
                        if (!empty[window[i]])
                            framesIn++;
                        i--;
                    }
                    ulong first = window[i + 1];
                    var d = new ServerDatagram { Newest = produced, Span = produced - first + 1 };
                    for (int j = window.Count - 1; j > i; j--)
                        if (!empty[window[j]])
                            d.Frames.Add(new TickFrame(window[j], frames[window[j]], null));
                    int copies = rnd.NextDouble() < loss ? 0 : (rnd.NextDouble() < dup ? 2 : 1);
                    for (int c = 0; c < copies; c++)
                        net.Add(new KeyValuePair<int, ServerDatagram>(step + rnd.Next(maxDelay + 1), d));
                }
                else if (!fallen && rnd.NextDouble() < 0.2)
                {
                    net.Add(new KeyValuePair<int, ServerDatagram>(step + rnd.Next(maxDelay + 1), new ServerDatagram { Newest = produced }));
                }
                // the client takes what arrived, datagrams in any order, the stream in order
                var due = net.Where(x => x.Key <= step).OrderBy(x => rnd.Next()).ToList();
                foreach (var x in due)
                    net.Remove(x);
                var streamDue = new Queue<ulong>();
                while (stream.Count > 0 && stream.Peek().Key <= step)
                    streamDue.Enqueue(stream.Dequeue().Value);
                foreach (var x in due)
                {
                    if (streamDue.Count > 0 && rnd.Next(2) == 0)
                    {
                        var n = streamDue.Dequeue();
                        merger.OnStream(n, frames[n], apply);
                        take();
                    }
                    merger.OnDatagram(x.Value, apply);
                    take();
                }
                while (streamDue.Count > 0)
                {
                    var n = streamDue.Dequeue();
                    merger.OnStream(n, frames[n], apply);
                    take();
                }
                Assert.AreEqual(last + 1, merger.Next, where);
                if (rnd.NextDouble() >= ackLoss)
                    acks.Add(new KeyValuePair<int, ulong>(step + rnd.Next(maxDelay + 1), merger.Next - 1));
            }
            Assert.AreEqual((ulong)total, last, where + ": the client did not get every tick in " + step + " steps");
            Assert.AreEqual(0, merger.Kept, where);
        }
    }
}
