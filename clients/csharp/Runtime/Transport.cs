// The seam between the connection layer and the network. A transport moves whole
// protocol messages (ClientMessage out, ServerMessage in); how they travel (TCP
// with length prefixes, or another transport such as UDP) is its own business,
// so TickcastClient works unchanged over any of them. A transport may deliver
// messages from more than one path (a UDP session beside the TCP stream): the
// client takes each under its lock, and its core drops a tick it already has.
using System;

namespace Tickcast
{
    /// <summary>Makes connections to a tickcast server.</summary>
    public interface ITransport
    {
        /// <summary>"tcp" (for logs and events).</summary>
        string Name { get; }

        /// <summary>Connects to <paramref name="endpoint"/>, blocking at most <paramref name="timeout"/>.
        /// Throws <see cref="System.Net.Sockets.SocketException"/>, <see cref="System.IO.IOException"/>
        /// or <see cref="TimeoutException"/> when no connection can be made.</summary>
        ITransportConnection Connect(Endpoint endpoint, TimeSpan timeout);
    }

    /// <summary>Receives what a connection delivers, on the thread that runs
    /// <see cref="ITransportConnection.Run"/>.</summary>
    public interface IMessageHandler
    {
        /// <summary>One ServerMessage body (unframed). Throwing ends the connection with that error.</summary>
        void OnMessage(byte[] body);
    }

    /// <summary>One connection: messages in both directions until it ends.</summary>
    public interface ITransportConnection : IDisposable
    {
        /// <summary>Queues one ClientMessage body (unframed) for sending. Callable from any
        /// thread; never blocks on the network; messages leave in the order of the calls.
        /// After the connection ended, sends are dropped.</summary>
        void Send(byte[] body);

        /// <summary>Delivers every message received to <paramref name="handler"/> until the
        /// connection ends, then returns why it ended (never null: the handler's exception,
        /// an EOF or reset as <see cref="System.IO.IOException"/>, silence longer than
        /// <see cref="ReceiveTimeout"/> as <see cref="TimeoutException"/>, or
        /// <see cref="ConnectionAborted"/> after <see cref="Abort"/>). Blocks its caller
        /// (the client's connection thread) for the connection's lifetime.</summary>
        Exception Run(IMessageHandler handler);

        /// <summary>Silence after which <see cref="Run"/> gives the connection up (settable at
        /// any time: the client shortens it for the handshake and lengthens it after the Welcome).</summary>
        TimeSpan ReceiveTimeout { get; set; }

        /// <summary>Ends the connection now (from any thread); <see cref="Run"/> returns soon after.</summary>
        void Abort();
    }

    /// <summary>A connection that knows the IP address it is connected to: a UDP offer whose host is
    /// empty means that address (not a new lookup of the endpoint's name, which may give another).</summary>
    public interface IRemoteAddress
    {
        System.Net.IPAddress RemoteAddress { get; }
    }

    /// <summary>The connection was ended on purpose by this client (<see cref="ITransportConnection.Abort"/>).</summary>
    public sealed class ConnectionAborted : System.IO.IOException
    {
        public ConnectionAborted() : base("connection aborted by the client") { }
    }
}
