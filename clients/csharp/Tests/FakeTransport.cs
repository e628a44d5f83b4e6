// An in-memory transport: the test plays the server. Each Connect() makes a
// FakeConnection the test takes with Next(); it sees every ClientMessage the
// client sent and delivers ServerMessages, drops or kicks as it likes.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using NUnit.Framework;
using Tickcast.Protocol;

namespace Tickcast.Tests
{
    sealed class FakeTransport : ITransport
    {
        readonly BlockingCollection<FakeConnection> made = new BlockingCollection<FakeConnection>();
        readonly object gate = new object();
        readonly List<Endpoint> dialed = new List<Endpoint>();

        /// <summary>Endpoints that refuse connections (an IOException, as a refused TCP connect).</summary>
        public readonly HashSet<Endpoint> Refusing = new HashSet<Endpoint>();

        public string Name { get { return "fake"; } }

        public Endpoint[] Dialed { get { lock (gate) return dialed.ToArray(); } }

        public ITransportConnection Connect(Endpoint endpoint, TimeSpan timeout)
        {
            lock (gate)
            {
                dialed.Add(endpoint);
                if (Refusing.Contains(endpoint))
                    throw new IOException("connection refused by " + endpoint);
            }
            var connection = new FakeConnection(endpoint);
            made.Add(connection);
            return connection;
        }

        /// <summary>The next connection the client makes (fails the test after 10 s).</summary>
        public FakeConnection Next()
        {
            FakeConnection connection;
            if (!made.TryTake(out connection, TimeSpan.FromSeconds(10)))
                Assert.Fail("the client made no connection within 10 s");
            return connection;
        }

        /// <summary>No further connection within <paramref name="wait"/>.</summary>
        public bool NoneWithin(TimeSpan wait)
        {
            FakeConnection connection;
            return !made.TryTake(out connection, wait);
        }
    }

    sealed class FakeConnection : ITransportConnection
    {
        readonly BlockingCollection<object> inbox = new BlockingCollection<object>();
        readonly BlockingCollection<ClientMessage> sent = new BlockingCollection<ClientMessage>();
        int aborted;

        public FakeConnection(Endpoint endpoint)
        {
            Endpoint = endpoint;
            ReceiveTimeout = TimeSpan.FromSeconds(30);
        }

        public Endpoint Endpoint { get; private set; }
        public TimeSpan ReceiveTimeout { get; set; }
        public bool Aborted { get { return Volatile.Read(ref aborted) == 1; } }

        public void Send(byte[] body)
        {
            if (!Aborted)
                sent.Add(ClientMessage.Decode(body));
        }

        public Exception Run(IMessageHandler handler)
        {
            while (true)
            {
                object item;
                if (!inbox.TryTake(out item, ReceiveTimeout))
                    return new TimeoutException("nothing received for " + ReceiveTimeout.TotalSeconds + " s");
                var error = item as Exception;
                if (error != null)
                    return error;
                try
                {
                    handler.OnMessage((byte[])item);
                }
                catch (Exception e)
                {
                    return e;
                }
            }
        }

        public void Abort()
        {
            if (Interlocked.Exchange(ref aborted, 1) == 0)
                inbox.Add(new ConnectionAborted());
        }

        public void Dispose()
        {
            Abort();
        }

        // ---- the test's side

        /// <summary>The next message the client sent, skipping pings (fails after 10 s).</summary>
        public ClientMessage Take()
        {
            while (true)
            {
                ClientMessage msg;
                if (!sent.TryTake(out msg, TimeSpan.FromSeconds(10)))
                    Assert.Fail("the client sent nothing within 10 s");
                if (msg.Body != ClientBody.Ping)
                    return msg;
            }
        }

        /// <summary>Every message sent so far (pings too), without waiting.</summary>
        public List<ClientMessage> Drain()
        {
            var all = new List<ClientMessage>();
            ClientMessage msg;
            while (sent.TryTake(out msg))
                all.Add(msg);
            return all;
        }

        public Hello TakeHello()
        {
            var msg = Take();
            Assert.AreEqual(ClientBody.Hello, msg.Body);
            return msg.Hello;
        }

        public void Deliver(ServerMessage message)
        {
            inbox.Add(message.Encode());
        }

        public void Welcome(ulong firstTick, uint slot = 1, uint lastSeq = 0, params string[] members)
        {
            var welcome = new Welcome { Room = "r", Slot = slot, TickRate = 30, FirstTick = firstTick, LastSeq = lastSeq, ServerId = "fake" };
            for (int i = 0; i < members.Length; i++)
                welcome.Members.Add(new Protocol.Member { Slot = (uint)(i + 1), PlayerId = members[i] });
            Deliver(new ServerMessage { Welcome = welcome });
        }

        public void Tick(ulong number, params RelayedInput[] inputs)
        {
            var tick = new Protocol.Tick { Number = number };
            tick.Inputs.AddRange(inputs);
            Deliver(new ServerMessage { Tick = tick });
        }

        public void Kick(KickReason reason, string detail = "", string redirect = "")
        {
            Deliver(new ServerMessage { Kick = new Kick { Reason = reason, Detail = detail, Redirect = redirect } });
        }

        /// <summary>The connection breaks (a reset): Run returns <paramref name="error"/>.</summary>
        public void Drop(Exception error = null)
        {
            inbox.Add(error ?? new IOException("connection reset by peer"));
        }
    }
}
