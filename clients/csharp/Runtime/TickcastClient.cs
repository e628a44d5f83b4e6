// The connection layer: owns a connection thread that connects, says Hello,
// reads frames, notices a dead link, reconnects with exponential backoff and
// jitter, follows redirects and resumes, so that the game's tick stream goes on
// with no gap and no duplicate and every input is applied exactly once. The
// game never gets a callback from that thread: everything it sees is queued and
// handed over by Poll(), on the thread that calls it (Unity's main thread).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using Tickcast.Protocol;
using Tickcast.Udp;

namespace Tickcast
{
    /// <summary>A client of one tickcast room that survives network drops.</summary>
    /// <example>
    /// <code>
    /// var client = new TickcastClient(new ClientOptions { Host = "127.0.0.1", PlayerId = "ada", Room = "r1" });
    /// client.TickReceived += tick => sim.Step(tick);
    /// client.Start();
    /// // every frame (MonoBehaviour.Update):
    /// client.Poll();
    /// client.Send(new byte[] { 1 });
    /// </code>
    /// </example>
    /// <remarks>
    /// <see cref="Send"/>, <see cref="SendStateHash"/>, <see cref="Leave"/> and the properties may be
    /// used from any thread; <see cref="Poll"/> and the events it raises belong to one thread (the game's).
    /// </remarks>
    public sealed class TickcastClient : IDisposable
    {
        static readonly Random Seeds = new Random(Guid.NewGuid().GetHashCode());
        static readonly Stopwatch Clock = Stopwatch.StartNew();   // the UDP sessions' time

        readonly ClientOptions options;
        readonly ITransport transport;
        readonly IDatagramTransport datagrams;
        readonly UdpStatus udpTotals = new UdpStatus();   // of the sessions that ended
        readonly ClientCore core;
        readonly ReconnectPlanner planner;
        readonly object gate = new object();
        readonly Queue<ClientEvent> events = new Queue<ClientEvent>();
        readonly ManualResetEvent eventAvailable = new ManualResetEvent(false);
        readonly ManualResetEvent stopped = new ManualResetEvent(false);   // Finish() ran: wakes a backoff wait
        readonly List<KickedException> kicks = new List<KickedException>();
        readonly Dictionary<uint, Member> members = new Dictionary<uint, Member>();   // the game thread's
        readonly Random random;
        Thread thread;
        Timer pingTimer;
        Session current;
        bool started;
        bool done;
        bool leaving;
        Exception error;
        int reconnects;
        long rttTicks = -1;
        ulong serverTick;

        public TickcastClient(ClientOptions options)
        {
            if (options == null)
                throw new ArgumentNullException("options");
            this.options = options.Copy();
            core = new ClientCore(options.PlayerId, options.Room, options.Token, options.Spectator,
                options.FullHistory, options.SkipEmptyTicks);
            core.ProtocolVersion = options.ProtocolVersion;
            core.UdpVersion = options.Udp ? Datagram.Version : 0;
            transport = options.Transport ?? new TcpTransport();
            datagrams = options.DatagramTransport ?? new UdpClientTransport();
            int seed;
            if (options.Seed.HasValue)
                seed = options.Seed.Value;
            else
                lock (Seeds)
                    seed = Seeds.Next();   // not the clock: clients made together must not jitter together
            random = new Random(seed);
            planner = new ReconnectPlanner(new Endpoint(options.Host, options.Port), options.MaxAttempts,
                options.MaxRedirects, options.BackoffInitial, options.BackoffMax, options.Reconnect, random.NextDouble);
        }

        /// <summary>Creates a client and starts connecting (in the background: this does not block).</summary>
        public static TickcastClient Connect(ClientOptions options)
        {
            var client = new TickcastClient(options);
            client.Start();
            return client;
        }

        // ------------------------------------------------------------ game-thread API

        /// <summary>Raised by <see cref="Poll"/> for every tick, in order, each exactly once.</summary>
        public event Action<Tick> TickReceived;

        /// <summary>Raised by <see cref="Poll"/> for the first Welcome.</summary>
        public event Action<ClientEvent> Welcomed;

        /// <summary>Raised by <see cref="Poll"/> when a welcomed connection was lost and the client reconnects.</summary>
        public event Action<Exception> Disconnected;

        /// <summary>Raised by <see cref="Poll"/> when a reconnect resumed the stream.</summary>
        public event Action<ClientEvent> Resumed;

        /// <summary>Raised by <see cref="Poll"/> when the UDP session of the connection changes mode
        /// (only with <see cref="ClientOptions.Udp"/> and a server that offers it).</summary>
        public event Action<UdpMode> UdpModeChanged;

        /// <summary>Raised by <see cref="Poll"/> once, last: null after Leave/Close, else the error that ended the stream.</summary>
        public event Action<Exception> Closed;

        /// <summary>Hands every event that arrived since the last call to the handlers above, on
        /// this thread; returns how many. Call it every frame (Unity: from Update).</summary>
        public int Poll()
        {
            var batch = TakeEvents();
            for (int i = 0; i < batch.Count; i++)
                Dispatch(batch[i]);
            return batch.Count;
        }

        /// <summary>The next event, without the handlers (for a <c>switch (ev.Kind)</c> loop). Also
        /// keeps <see cref="LastTick"/> and <see cref="Members"/> up to date, as Poll does.</summary>
        public bool TryTakeEvent(out ClientEvent ev)
        {
            lock (gate)
            {
                if (events.Count == 0)
                {
                    eventAvailable.Reset();
                    ev = null;
                    return false;
                }
                ev = events.Dequeue();
                if (events.Count == 0)
                    eventAvailable.Reset();
            }
            Took(ev);
            return true;
        }

        /// <summary>Signalled while events wait to be taken (for a console program's
        /// <c>WaitHandle.WaitAny</c>; a game just polls every frame).</summary>
        public WaitHandle EventAvailable { get { return eventAvailable; } }

        /// <summary>Blocks until an event waits or <paramref name="timeout"/> passed; true if one waits.</summary>
        public bool WaitForEvent(TimeSpan timeout)
        {
            return eventAvailable.WaitOne(timeout);
        }

        List<ClientEvent> TakeEvents()
        {
            lock (gate)
            {
                var batch = new List<ClientEvent>(events);
                events.Clear();
                eventAvailable.Reset();
                return batch;
            }
        }

        void Dispatch(ClientEvent ev)
        {
            Took(ev);
            switch (ev.Kind)
            {
                case ClientEventKind.Tick:
                    var onTick = TickReceived;
                    if (onTick != null) onTick(ev.Tick);
                    break;
                case ClientEventKind.Welcomed:
                    var onWelcome = Welcomed;
                    if (onWelcome != null) onWelcome(ev);
                    break;
                case ClientEventKind.Disconnected:
                    var onDisconnected = Disconnected;
                    if (onDisconnected != null) onDisconnected(ev.Error);
                    break;
                case ClientEventKind.Resumed:
                    var onResumed = Resumed;
                    if (onResumed != null) onResumed(ev);
                    break;
                case ClientEventKind.UdpModeChanged:
                    var onUdp = UdpModeChanged;
                    if (onUdp != null) onUdp(ev.UdpMode);
                    break;
                case ClientEventKind.Closed:
                    var onClosed = Closed;
                    if (onClosed != null) onClosed(ev.Error);
                    break;
            }
        }

        /// <summary>The game-thread view: the last tick taken, and the members as of it.</summary>
        void Took(ClientEvent ev)
        {
            if (ev.Kind == ClientEventKind.Welcomed)
            {
                members.Clear();
                foreach (var m in ev.Members)
                    members[m.Slot] = m;
            }
            else if (ev.Kind == ClientEventKind.Tick)
            {
                var tick = ev.Tick;
                Interlocked.Exchange(ref lastTickBox, (long)tick.Number);
                foreach (var m in tick.Joined)
                    members[m.Slot] = m;
                foreach (var m in tick.Left)
                    members.Remove(m.Slot);
            }
        }

        long lastTickBox;

        /// <summary>The number of the last tick taken by <see cref="Poll"/> (0 before the first).</summary>
        public ulong LastTick { get { return (ulong)Interlocked.Read(ref lastTickBox); } }

        /// <summary>The room's members as of <see cref="LastTick"/>, by slot (read it on the polling thread).</summary>
        public IReadOnlyDictionary<uint, Member> Members { get { return members; } }

        // ------------------------------------------------------------ any-thread API

        /// <summary>Starts connecting in the background. A client is started once.</summary>
        public void Start()
        {
            lock (gate)
            {
                if (started)
                    throw new InvalidOperationException("the client is already started");
                if (done)
                    throw new ConnectionClosedException("the client is closed");
                started = true;
                thread = new Thread(Run) { IsBackground = true, Name = "tickcast " + core.PlayerId };
                pingTimer = new Timer(Ping, null, options.PingInterval, options.PingInterval);
            }
            thread.Start();
        }

        /// <summary>Sends one input and returns its seq. Never blocks: while the client reconnects the
        /// input waits, and it is applied exactly once (seqs survive reconnects). Your own input comes
        /// back in a tick like everybody else's: apply it then. Throws for a spectator or a closed client.</summary>
        public uint Send(byte[] payload)
        {
            lock (gate)
            {
                if (done)
                    throw new ConnectionClosedException("the client is closed");
                byte[] message;
                uint seq = core.NextInput(payload, out message);
                var session = current;
                if (session != null && session.Welcomed)
                {
                    var udp = session.Udp;
                    if (udp == null)
                    {
                        session.Connection.Send(message);
                    }
                    else
                    {
                        // by datagram while UDP is active, else by the stream (after what it has not carried)
                        Drive(session, udp, (u, now, act) => u.OnInput(now, act));
                    }
                }
                return seq;
            }
        }

        /// <summary>Reports the hash of the simulation state after <paramref name="tick"/> (desync
        /// detection; at most 64 bytes). Best effort: dropped while disconnected.</summary>
        public void SendStateHash(ulong tick, byte[] hash)
        {
            SendIfConnected(ClientCore.StateHashMessage(tick, hash));
        }

        /// <summary>Tells the server the highest tick fully processed (optional).</summary>
        public void SendAck(ulong tick)
        {
            SendIfConnected(ClientCore.AckMessage(tick));
        }

        void SendIfConnected(byte[] message)
        {
            lock (gate)
            {
                var session = current;
                if (session != null && session.Welcomed && !done)
                    session.Connection.Send(message);
            }
        }

        /// <summary>Leaves the room now: the others see it in the next tick, and the stream ends
        /// (a Closed event with no error) once the server confirms, or after the leave timeout.
        /// Does not block.</summary>
        public void Leave()
        {
            lock (gate)
            {
                if (done || leaving)
                    return;
                leaving = true;
                var session = current;
                if (session == null || !session.Welcomed)
                {
                    Finish(null);
                    return;
                }
                session.Connection.Send(ClientCore.LeaveMessage());
                var connection = session.Connection;
                var timer = new Timer(_ => connection.Abort());
                session.LeaveTimer = timer;
                timer.Change(options.LeaveTimeout, TimeSpan.FromMilliseconds(-1));
            }
        }

        /// <summary>Ends the client. With <paramref name="leave"/>, leaves first (waiting up to the
        /// leave timeout for the server) so the slot is freed at once; without it the room keeps the
        /// slot for its reconnect grace. The Closed event is still queued for Poll.</summary>
        public void Close(bool leave = true)
        {
            if (leave)
            {
                Leave();
                stopped.WaitOne(options.LeaveTimeout + TimeSpan.FromMilliseconds(500));
            }
            lock (gate)
                Finish(null);
            var t = thread;
            if (t != null && t != Thread.CurrentThread)
                t.Join(TimeSpan.FromSeconds(5));
        }

        /// <summary><see cref="Close"/> with a Leave.</summary>
        public void Dispose()
        {
            Close(true);
        }

        // ------------------------------------------------------------ state (any thread)

        public string PlayerId { get { return core.PlayerId; } }
        public bool Spectator { get { return core.Spectator; } }

        /// <summary>The room's name as the server reported it (the room asked for before the Welcome).</summary>
        public string Room { get { lock (gate) return core.Room; } }

        /// <summary>This player's slot (0 for a spectator, and before the Welcome).</summary>
        public uint Slot { get { lock (gate) return core.Slot; } }

        public uint TickRate { get { lock (gate) return core.TickRate; } }
        public string ServerId { get { lock (gate) return core.ServerId; } }

        /// <summary>The number of the first tick this client receives (1 with full history).</summary>
        public ulong FirstTick { get { lock (gate) return core.FirstTick; } }

        /// <summary>The newest tick received (the resume point); ticks up to it may still wait for Poll.</summary>
        public ulong ReceivedTick { get { lock (gate) return core.Received; } }

        /// <summary>Inputs sent and not yet seen sequenced in a tick.</summary>
        public int PendingInputs { get { lock (gate) return core.PendingInputs; } }

        /// <summary>Inputs sent again after reconnects (those the server had not sequenced), in all.</summary>
        public int ResentInputs { get { lock (gate) return core.ResentInputs; } }

        /// <summary>Round-trip time of the last Ping/Pong; null before the first.</summary>
        public TimeSpan? Rtt
        {
            get
            {
                long ticks = Interlocked.Read(ref rttTicks);
                return ticks < 0 ? (TimeSpan?)null : TimeSpan.FromTicks(ticks);
            }
        }

        /// <summary>The room's newest tick according to the last Pong.</summary>
        public ulong ServerTick { get { lock (gate) return serverTick; } }

        /// <summary>Connections after the first that were welcomed (resumes).</summary>
        public int Reconnects { get { lock (gate) return reconnects; } }

        /// <summary>Every Kick received, the retried ones too (for diagnostics).</summary>
        public KickedException[] Kicks { get { lock (gate) return kicks.ToArray(); } }

        /// <summary>Where the client connects now (the entry point, or where a redirect sent it).</summary>
        public Endpoint Endpoint { get { lock (gate) return planner.Current; } }

        /// <summary>The UDP path: the current session's mode (null without one) and the counters of every session so far.</summary>
        public UdpStatus Udp
        {
            get
            {
                lock (gate)
                {
                    var status = udpTotals.Copy();
                    var path = current == null ? null : current.Udp;
                    if (path != null)
                    {
                        status.Add(path.Session);
                        status.Mode = path.Session.Mode;
                        status.Rtt = path.Session.Rtt;
                    }
                    return status;
                }
            }
        }

        /// <summary>A welcomed connection is open.</summary>
        public bool IsConnected { get { lock (gate) return current != null && current.Welcomed && !done; } }

        /// <summary>The stream has ended (left, closed or failed); the Closed event may still wait for Poll.</summary>
        public bool IsClosed { get { lock (gate) return done; } }

        /// <summary>Why the stream ended, if it ended with an error.</summary>
        public Exception Error { get { lock (gate) return error; } }

        // ------------------------------------------------------------ the connection thread

        void Run()
        {
            ReconnectDecision decision;
            lock (gate)
                decision = planner.Start();
            while (true)
            {
                if (decision.GiveUp)
                {
                    lock (gate)
                        Finish(decision.Error);
                    return;
                }
                if (decision.Delay > TimeSpan.Zero)
                {
                    Log("reconnecting to " + decision.Target + " in " + (int)decision.Delay.TotalMilliseconds + " ms");
                    if (stopped.WaitOne(decision.Delay))
                        return;
                }
                ITransportConnection connection;
                try
                {
                    connection = transport.Connect(decision.Target, options.ConnectTimeout);
                }
                catch (Exception e)
                {
                    if (!ReconnectPlanner.IsTransportError(e))
                    {
                        lock (gate)
                            Finish(e);
                        return;
                    }
                    Log("cannot connect to " + decision.Target + ": " + e.Message);
                    lock (gate)
                        decision = planner.DialFailed(e);
                    continue;
                }
                var session = new Session(this, connection, decision.Target);
                lock (gate)
                {
                    if (done)
                    {
                        connection.Abort();
                        return;
                    }
                    current = session;
                    connection.ReceiveTimeout = options.ConnectTimeout;   // until the Welcome
                    connection.Send(core.HelloMessage());
                }
                Exception failure = connection.Run(session);
                connection.Dispose();
                lock (gate)
                {
                    StopUdp(session);
                    if (session.Failure != null)
                        failure = session.Failure;   // what ended it on the UDP path (a tick gap, ...)
                    current = null;
                    if (session.LeaveTimer != null)
                        session.LeaveTimer.Dispose();
                    if (done)
                        return;
                    var kicked = failure as KickedException;
                    if (kicked != null)
                        kicks.Add(kicked);
                    if (leaving)
                    {
                        Finish(null);
                        return;
                    }
                    decision = planner.ConnectionLost(failure, session.Welcomed);
                    if (!decision.GiveUp && session.Welcomed)
                        Enqueue(new ClientEvent(ClientEventKind.Disconnected) { Error = failure });
                }
                Log("connection to " + session.Endpoint + " ended: " + failure.Message);
            }
        }

        /// <summary>Ends the stream (under the gate): the last event, Closed.</summary>
        void Finish(Exception why)
        {
            if (done)
                return;
            done = true;
            error = why;
            stopped.Set();
            if (pingTimer != null)
                pingTimer.Dispose();
            if (current != null)
                current.Connection.Abort();
            Enqueue(new ClientEvent(ClientEventKind.Closed) { Error = why });
        }

        void Enqueue(ClientEvent ev)
        {
            events.Enqueue(ev);
            eventAvailable.Set();
        }

        void Ping(object state)
        {
            lock (gate)
            {
                var session = current;
                if (session != null && session.Welcomed && !done)
                    session.Connection.Send(ClientCore.PingMessage((ulong)Stopwatch.GetTimestamp()));
            }
        }

        void Log(string message)
        {
            var log = options.Log;
            if (log != null)
                log(core.PlayerId + ": " + message);
        }

        /// <summary>What one connection receives, taken on the connection thread.</summary>
        sealed class Session : IMessageHandler
        {
            readonly TickcastClient client;

            public Session(TickcastClient client, ITransportConnection connection, Endpoint endpoint)
            {
                this.client = client;
                Connection = connection;
                Endpoint = endpoint;
            }

            public ITransportConnection Connection { get; private set; }
            public Endpoint Endpoint { get; private set; }
            public bool Welcomed;   // read and written under the client's gate
            public Timer LeaveTimer;
            public UdpPath Udp;        // the UDP session beside it, if any (under the gate)
            public Exception Failure;  // set when the UDP path ended the connection (under the gate)

            public void OnMessage(byte[] body)
            {
                var message = ServerMessage.Decode(body, 0, body.Length);
                switch (message.Body)
                {
                    case ServerBody.Tick:
                        client.OnTick(this, message);
                        break;
                    case ServerBody.Welcome:
                        client.OnWelcome(this, message.Welcome);
                        break;
                    case ServerBody.Pong:
                        client.OnPong(message.Pong);
                        break;
                    case ServerBody.Kick:
                        var kick = message.Kick;
                        throw KickedException.From(kick.Reason, kick.Detail, kick.Redirect);   // ends this connection
                    default:
                        break;   // a message of a newer protocol: skipped
                }
            }
        }

        void OnWelcome(Session session, Welcome welcome)
        {
            lock (gate)
            {
                if (session.Welcomed)
                    throw new RemoteProtocolException("a second Welcome on one connection");
                if (done)
                    return;
                bool first = !planner.EverWelcomed;
                foreach (var message in core.OnWelcome(welcome))   // resend what was not sequenced
                    session.Connection.Send(message);
                session.Welcomed = true;
                session.Connection.ReceiveTimeout = options.DeadAfter;
                planner.OnWelcomed();
                if (first)
                {
                    Enqueue(new ClientEvent(ClientEventKind.Welcomed)
                    {
                        Slot = core.Slot,
                        FirstTick = core.FirstTick,
                        Members = new List<Member>(core.InitialMembers),
                        Endpoint = session.Endpoint,
                    });
                }
                else
                {
                    reconnects++;
                    Enqueue(new ClientEvent(ClientEventKind.Resumed)
                    {
                        Slot = core.Slot,
                        Reconnects = reconnects,
                        Endpoint = session.Endpoint,
                    });
                }
            }
            Log("welcomed at " + session.Endpoint + ", slot " + welcome.Slot + ", first tick " + welcome.FirstTick);
            if (options.Udp)
                StartUdp(session, welcome.Udp);
        }

        void OnTick(Session session, ServerMessage message)
        {
            lock (gate)
            {
                if (!session.Welcomed)
                    throw new RemoteProtocolException("a Tick before the Welcome");
                if (done)
                    return;
                var udp = session.Udp;
                if (udp != null)
                {
                    // merged with the datagrams' ticks: each once, in order, whichever path brought it
                    Drive(session, udp, (u, now, act) => u.OnStreamTick(message.Tick.Number, message, now, act));
                    return;
                }
                EnqueueTicks(core.OnTick(message.Tick, message.TickBytes));
            }
        }

        void EnqueueTicks(List<Tick> ticks)
        {
            for (int i = 0; i < ticks.Count; i++)
                Enqueue(new ClientEvent(ClientEventKind.Tick) { Tick = ticks[i] });
        }

        // ------------------------------------------------------------ the UDP path

        /// <summary>The UDP session of one connection: the sans-I/O session, its socket, its timer.</summary>
        sealed class UdpPath
        {
            public UdpPath(UdpSession session, IDatagramLink link, IPEndPoint remote)
            {
                Session = session;
                Link = link;
                Remote = remote;
            }

            public readonly UdpSession Session;
            public readonly IDatagramLink Link;
            public readonly IPEndPoint Remote;
            public readonly UdpActions Actions = new UdpActions();   // reused under the gate
            public Timer Timer;
        }

        /// <summary>After a Welcome (on the connection thread): opens the offered UDP session, or says why not.</summary>
        void StartUdp(Session session, UdpOffer offer)
        {
            string why = offer == null ? "the server offers no UDP session" : UdpSession.Usable(offer);
            if (why != null)
            {
                Log(why + ": ticks and inputs stay on the stream");
                return;
            }
            IPEndPoint remote;
            IDatagramLink link;
            try
            {
                remote = UdpAddress(session, offer);   // may look a name up: not under the gate
                link = datagrams.Open(remote);
            }
            catch (Exception e)
            {
                if (!(e is SocketException || e is ArgumentException || e is IOException))
                    throw;
                Log("cannot use the UDP offer (" + offer.Host + ":" + offer.Port + "): " + e.Message + "; staying on the stream");
                return;
            }
            UdpPath path;
            lock (gate)
            {
                if (done || current != session)
                {
                    link.Dispose();
                    return;
                }
                // the stream carried every input so far (the Welcome's resend included)
                var udp = new UdpSession(core, offer, options.UdpTimers);
                path = new UdpPath(udp, link, remote);
                session.Udp = path;
                path.Timer = new Timer(_ => OnUdpTimer(session, path));
                Enqueue(new ClientEvent(ClientEventKind.UdpModeChanged) { UdpMode = udp.Mode });
                Drive(session, path, (u, now, act) => u.Start(now, act));
            }
            Log("UDP session to " + remote + ": probing");
            new Thread(() => ReadDatagrams(session, path)) { IsBackground = true, Name = "tickcast udp " + core.PlayerId }.Start();
        }

        /// <summary>Where the datagrams go: the offer's host, or the address the stream is connected to.</summary>
        static IPEndPoint UdpAddress(Session session, UdpOffer offer)
        {
            IPAddress address;
            if (offer.Host.Length == 0)
            {
                var connected = session.Connection as IRemoteAddress;
                address = connected != null ? connected.RemoteAddress : Lookup(session.Endpoint.Host);
            }
            else if (!IPAddress.TryParse(offer.Host, out address))
            {
                address = Lookup(offer.Host);
            }
            return new IPEndPoint(address, (int)offer.Port);
        }

        static IPAddress Lookup(string host)
        {
            IPAddress literal;
            if (IPAddress.TryParse(host, out literal))
                return literal;
            var addresses = Dns.GetHostAddresses(host);
            if (addresses.Length == 0)
                throw new SocketException((int)SocketError.HostNotFound);
            return addresses[0];
        }

        /// <summary>The UDP session's receive loop (its own thread, until the link is disposed).</summary>
        void ReadDatagrams(Session session, UdpPath path)
        {
            while (true)
            {
                var data = path.Link.Receive();
                if (data == null)
                    return;
                lock (gate)
                {
                    if (session.Udp != path || done)
                        return;
                    Drive(session, path, (u, now, act) => u.OnDatagram(data, 0, data.Length, now, act));
                }
            }
        }

        void OnUdpTimer(Session session, UdpPath path)
        {
            lock (gate)
            {
                if (session.Udp != path || done)
                    return;
                Drive(session, path, (u, now, act) => u.OnTimer(now, act));
            }
        }

        /// <summary>Calls the UDP session (under the gate), then carries out what it asked for: ticks to
        /// the game, inputs to the stream, datagrams to the server, a mode change as an event; then re-arms
        /// its timer.</summary>
        void Drive(Session session, UdpPath path, Action<UdpSession, TimeSpan, UdpActions> call)
        {
            var act = path.Actions;
            try
            {
                call(path.Session, Clock.Elapsed, act);
            }
            catch (Exception e)
            {
                // a tick gap without SkipEmptyTicks: as on the stream, it ends the connection
                if (!(e is TickcastException))
                    throw;
                act.Clear();
                if (session.Failure == null)
                    session.Failure = e;
                session.Connection.Abort();
                return;
            }
            EnqueueTicks(act.Ticks);
            foreach (var message in act.StreamMessages)
                session.Connection.Send(message);
            foreach (var datagram in act.Datagrams)
                path.Link.Send(datagram);
            if (act.ModeChanged)
            {
                Enqueue(new ClientEvent(ClientEventKind.UdpModeChanged) { UdpMode = path.Session.Mode });
                Log("UDP " + path.Session.Mode.ToString().ToLowerInvariant());
            }
            act.Clear();
            var deadline = path.Session.NextDeadline;
            if (deadline == TimeSpan.MaxValue)
            {
                path.Timer.Change(Timeout.Infinite, Timeout.Infinite);
            }
            else
            {
                // rounded up: a timer that fires a little early would find nothing due and spin
                double ms = Math.Ceiling((deadline - Clock.Elapsed).TotalMilliseconds);
                path.Timer.Change((long)Math.Max(1, ms), Timeout.Infinite);
            }
        }

        /// <summary>The connection ended (under the gate): so does its UDP session.</summary>
        void StopUdp(Session session)
        {
            var path = session.Udp;
            if (path == null)
                return;
            session.Udp = null;
            udpTotals.Add(path.Session);
            path.Timer.Dispose();
            path.Link.Dispose();   // wakes its reader, which then finds the session gone
            path.Session.Dispose();
        }

        void OnPong(Pong pong)
        {
            long elapsed = Stopwatch.GetTimestamp() - (long)pong.Nonce;
            if (elapsed >= 0)
                Interlocked.Exchange(ref rttTicks, (long)(elapsed * (TimeSpan.TicksPerSecond / (double)Stopwatch.Frequency)));
            lock (gate)
                serverTick = pong.Tick;
        }
    }
}
