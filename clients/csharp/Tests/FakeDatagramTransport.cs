// An in-memory datagram transport: the test plays the server's UDP side. Each
// Open() makes a FakeLink that the test takes with Next(); it sees every datagram
// the client sent and delivers whatever bytes it likes.
using System;
using System.Collections.Concurrent;
using System.Net;
using System.Threading;
using NUnit.Framework;
using Tickcast.Udp;

namespace Tickcast.Tests
{
    sealed class FakeDatagramTransport : IDatagramTransport
    {
        readonly BlockingCollection<FakeLink> made = new BlockingCollection<FakeLink>();
        int opened;

        public int Opened { get { return Volatile.Read(ref opened); } }

        public IDatagramLink Open(IPEndPoint remote)
        {
            Interlocked.Increment(ref opened);
            var link = new FakeLink(remote);
            made.Add(link);
            return link;
        }

        public FakeLink Next()
        {
            FakeLink link;
            if (!made.TryTake(out link, TimeSpan.FromSeconds(10)))
                Assert.Fail("the client opened no UDP link within 10 s");
            return link;
        }
    }

    sealed class FakeLink : IDatagramLink
    {
        readonly BlockingCollection<byte[]> inbox = new BlockingCollection<byte[]>();
        readonly BlockingCollection<byte[]> sent = new BlockingCollection<byte[]>();
        int disposed;

        public FakeLink(IPEndPoint remote)
        {
            Remote = remote;
        }

        public IPEndPoint Remote { get; private set; }
        public bool Disposed { get { return Volatile.Read(ref disposed) == 1; } }

        public void Send(byte[] datagram)
        {
            if (!Disposed)
                sent.Add(datagram);
        }

        public byte[] Receive()
        {
            try
            {
                var data = inbox.Take();
                return data.Length == 0 ? null : data;
            }
            catch (InvalidOperationException)
            {
                return null;
            }
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
                inbox.Add(new byte[0]);   // wakes the reader
        }

        // ---- the test's side

        public void Deliver(byte[] datagram)
        {
            inbox.Add(datagram);
        }

        /// <summary>The next datagram the client sent (fails after 10 s).</summary>
        public byte[] Take()
        {
            byte[] d;
            if (!sent.TryTake(out d, TimeSpan.FromSeconds(10)))
                Assert.Fail("the client sent no datagram within 10 s");
            return d;
        }

        public bool NoneWithin(TimeSpan wait)
        {
            byte[] d;
            return !sent.TryTake(out d, wait);
        }
    }
}
