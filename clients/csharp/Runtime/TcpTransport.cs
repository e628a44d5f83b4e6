// Protocol v1 over TCP: length-prefixed protobuf frames (see Framing), Nagle off.
// Reads block on the client's connection thread; writes are asynchronous, so a
// game thread that sends an input never waits on the network.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using Tickcast.Protocol;

namespace Tickcast
{
    /// <summary>The TCP transport (the server's <c>--port</c>, 7777 by default).</summary>
    public sealed class TcpTransport : ITransport
    {
        public TcpTransport(int maxServerFrame = Framing.DefaultMaxServerFrame)
        {
            MaxServerFrame = maxServerFrame;
        }

        /// <summary>The largest server frame accepted (a tick holds every input of the tick: keep it generous).</summary>
        public int MaxServerFrame { get; private set; }

        public string Name { get { return "tcp"; } }

        public ITransportConnection Connect(Endpoint endpoint, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            IPAddress[] addresses;
            IPAddress literal;
            if (IPAddress.TryParse(endpoint.Host, out literal))
                addresses = new[] { literal };
            else
                addresses = Dns.GetHostAddresses(endpoint.Host);
            Exception last = new SocketException((int)SocketError.HostNotFound);
            foreach (var address in addresses)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    break;
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    socket.NoDelay = true;   // inputs are small and must leave at once
                    var pending = socket.BeginConnect(address, endpoint.Port, null, null);
                    if (!pending.AsyncWaitHandle.WaitOne(left))
                    {
                        socket.Close();
                        last = new TimeoutException("connecting to " + endpoint + " took longer than " + timeout.TotalSeconds + " s");
                        continue;
                    }
                    socket.EndConnect(pending);
                    return new TcpConnection(socket, MaxServerFrame);
                }
                catch (SocketException e)
                {
                    socket.Close();
                    last = e;
                }
                catch (ObjectDisposedException e)
                {
                    last = e;
                }
            }
            throw last is TimeoutException ? last : new IOException("cannot connect to " + endpoint + ": " + last.Message, last);
        }
    }

    /// <summary>One TCP connection: a blocking reader (<see cref="Run"/>) and a chain of asynchronous writes.</summary>
    sealed class TcpConnection : ITransportConnection, IRemoteAddress
    {
        readonly Socket socket;
        readonly int maxFrame;
        readonly object sendLock = new object();
        byte[] pending = new byte[256];   // frames queued while a write is in flight
        int pendingLength;
        bool writing;
        volatile bool aborted;
        Exception writeError;
        int receiveTimeoutMs;

        public TcpConnection(Socket socket, int maxFrame)
        {
            this.socket = socket;
            this.maxFrame = maxFrame;
            RemoteAddress = ((IPEndPoint)socket.RemoteEndPoint).Address;
        }

        public IPAddress RemoteAddress { get; private set; }

        public TimeSpan ReceiveTimeout
        {
            get { return TimeSpan.FromMilliseconds(receiveTimeoutMs); }
            set { receiveTimeoutMs = (int)Math.Max(1, Math.Min(int.MaxValue, value.TotalMilliseconds)); }
        }

        public void Send(byte[] body)
        {
            byte[] batch;
            int length;
            lock (sendLock)
            {
                if (aborted)
                    return;
                int need = pendingLength + Varint.MaxBytes + body.Length;
                if (need > pending.Length)
                    Array.Resize(ref pending, Math.Max(need, pending.Length * 2));
                pendingLength = Varint.Write(pending, pendingLength, (ulong)body.Length);
                Buffer.BlockCopy(body, 0, pending, pendingLength, body.Length);
                pendingLength += body.Length;
                if (writing)
                    return;   // the write in flight takes this along when it completes
                writing = true;
                batch = TakePending(out length);
            }
            StartWrite(batch, 0, length);
        }

        byte[] TakePending(out int length)
        {
            var batch = pending;
            length = pendingLength;
            pending = new byte[Math.Max(256, Math.Min(batch.Length, 1 << 16))];
            pendingLength = 0;
            return batch;
        }

        void StartWrite(byte[] batch, int offset, int length)
        {
            try
            {
                socket.BeginSend(batch, offset, length - offset, SocketFlags.None, OnWritten, new WriteState(batch, offset, length));
            }
            catch (Exception e)
            {
                WriteFailed(e);
            }
        }

        void OnWritten(IAsyncResult result)
        {
            var state = (WriteState)result.AsyncState;
            int sent;
            try
            {
                sent = socket.EndSend(result);
            }
            catch (Exception e)
            {
                WriteFailed(e);
                return;
            }
            if (state.Offset + sent < state.Length)
            {
                StartWrite(state.Batch, state.Offset + sent, state.Length);
                return;
            }
            byte[] batch;
            int length;
            lock (sendLock)
            {
                if (pendingLength == 0 || aborted)
                {
                    writing = false;
                    return;
                }
                batch = TakePending(out length);
            }
            StartWrite(batch, 0, length);
        }

        void WriteFailed(Exception e)
        {
            lock (sendLock)
            {
                if (writeError == null && !aborted)
                    writeError = e;
                writing = false;
            }
            Abort();
        }

        public Exception Run(IMessageHandler handler)
        {
            var framer = new Framer(maxFrame);
            var buffer = new byte[1 << 16];
            var frames = new List<byte[]>();
            int applied = -1;
            try
            {
                while (true)
                {
                    int timeout = receiveTimeoutMs;
                    if (timeout != applied)
                    {
                        socket.ReceiveTimeout = timeout;   // SO_RCVTIMEO: a blocked Receive ends after it
                        applied = timeout;
                    }
                    int n = socket.Receive(buffer);
                    if (n == 0)
                        return Ended(new IOException("connection closed by the server"));
                    framer.Feed(buffer, 0, n, frames);
                    for (int i = 0; i < frames.Count; i++)
                        handler.OnMessage(frames[i]);
                    frames.Clear();
                }
            }
            catch (SocketException e)
            {
                if (e.SocketErrorCode == SocketError.TimedOut || e.SocketErrorCode == SocketError.WouldBlock)
                    return Ended(new TimeoutException("nothing received for " + (receiveTimeoutMs / 1000.0) + " s"));
                return Ended(e);
            }
            catch (ObjectDisposedException e)
            {
                return Ended(e);
            }
            catch (Exception e)
            {
                return e;   // the handler's (a Kick, a protocol error) or the framer's
            }
            finally
            {
                Abort();
            }
        }

        /// <summary>Why the connection ended: an abort of ours, a failed write, or what the read saw.</summary>
        Exception Ended(Exception seen)
        {
            lock (sendLock)
            {
                if (writeError != null)
                    return writeError;
            }
            return aborted ? new ConnectionAborted() : seen;
        }

        public void Abort()
        {
            lock (sendLock)
            {
                if (aborted)
                    return;
                aborted = true;
            }
            try
            {
                socket.Shutdown(SocketShutdown.Both);   // wakes a Receive blocked in another thread
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
            socket.Close();
        }

        public void Dispose()
        {
            Abort();
        }

        sealed class WriteState
        {
            public WriteState(byte[] batch, int offset, int length)
            {
                Batch = batch;
                Offset = offset;
                Length = length;
            }

            public readonly byte[] Batch;
            public readonly int Offset;
            public readonly int Length;
        }
    }
}
