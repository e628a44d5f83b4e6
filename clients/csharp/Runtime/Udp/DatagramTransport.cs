// The seam between the UDP session and the network: a socket that exchanges
// datagrams with one remote address. UdpClientTransport is the real one (a
// connected System.Net.Sockets.UdpClient, so the kernel drops datagrams from
// any other address); tests plug in an in-memory one.
using System;
using System.Net;
using System.Net.Sockets;

namespace Tickcast.Udp
{
    /// <summary>Opens datagram links (one per UDP session).</summary>
    public interface IDatagramTransport
    {
        /// <summary>A link that sends to and receives only from <paramref name="remote"/>.
        /// Throws <see cref="SocketException"/> if no socket can be made.</summary>
        IDatagramLink Open(IPEndPoint remote);
    }

    /// <summary>One datagram socket of one UDP session.</summary>
    public interface IDatagramLink : IDisposable
    {
        /// <summary>Sends one datagram (best effort: a failure is a lost datagram). Callable from any thread.</summary>
        void Send(byte[] datagram);

        /// <summary>Blocks until a datagram from the remote address arrives and returns it; null once the link is disposed.</summary>
        byte[] Receive();
    }

    /// <summary>Datagram links over <see cref="UdpClient"/>.</summary>
    public sealed class UdpClientTransport : IDatagramTransport
    {
        public IDatagramLink Open(IPEndPoint remote)
        {
            var client = new UdpClient(remote.AddressFamily);
            try
            {
                client.Connect(remote);   // the kernel filters: only the server's address and port get through
                return new UdpClientLink(client);
            }
            catch
            {
                client.Close();
                throw;
            }
        }
    }

    sealed class UdpClientLink : IDatagramLink
    {
        readonly UdpClient client;
        volatile bool disposed;

        public UdpClientLink(UdpClient client)
        {
            this.client = client;
        }

        public void Send(byte[] datagram)
        {
            if (disposed)
                return;
            try
            {
                client.Send(datagram, datagram.Length);
            }
            catch (SocketException)
            {
                // ICMP unreachable from an earlier datagram, no route, a full buffer: the datagram is lost
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public byte[] Receive()
        {
            while (!disposed)
            {
                try
                {
                    var from = new IPEndPoint(IPAddress.Any, 0);
                    return client.Receive(ref from);
                }
                catch (SocketException e)
                {
                    // a connected UDP socket reports an ICMP "port unreachable" on the next receive:
                    // nothing listens there (yet); the session's timers deal with silence
                    if (disposed)
                        return null;
                    if (e.SocketErrorCode != SocketError.ConnectionRefused && e.SocketErrorCode != SocketError.ConnectionReset)
                        System.Threading.Thread.Sleep(5);   // anything else may repeat at once: never spin on it
                }
                catch (ObjectDisposedException)
                {
                    return null;
                }
            }
            return null;
        }

        public void Dispose()
        {
            if (disposed)
                return;
            disposed = true;
            client.Close();   // wakes a Receive blocked in another thread
        }
    }
}
