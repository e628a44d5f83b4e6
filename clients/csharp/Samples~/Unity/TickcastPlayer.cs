// A Unity MonoBehaviour on tickcast: add it to any GameObject, press Play, and
// move with the arrow keys; every client in the room sees the same moves at the
// same ticks. The simulation (a position per slot) is deterministic and stepped
// only by ticks; a state hash goes to the server every 30 ticks, so a client
// that computes a different state is named in Tick.desyncs.
//
// Everything happens on Unity's main thread: the client's socket thread only
// queues, and Update() drains the queue with Poll().
using System.Collections.Generic;
using System.Text;
using Tickcast;
using UnityEngine;

public class TickcastPlayer : MonoBehaviour
{
    [SerializeField] string host = "127.0.0.1";
    [SerializeField] int port = 7777;
    [SerializeField] string playerId = "unity-player";
    [SerializeField] string room = "r1";
    // ticks and inputs by UDP datagrams beside the TCP connection when the server offers it
    // (standalone and mobile builds; WebGL has no sockets)
    [SerializeField] bool udp = true;

    TickcastClient client;
    readonly Dictionary<uint, int[]> positions = new Dictionary<uint, int[]>();   // slot -> {x, y}
    string status = "connecting";
    byte pendingMove;

    void Start()
    {
        client = new TickcastClient(new ClientOptions
        {
            Host = host,
            Port = port,
            PlayerId = playerId,
            Room = room,
            Udp = udp,
            Log = message => Debug.Log("tickcast: " + message),   // Debug.Log may be called from any thread
        });
        client.Welcomed += ev =>
        {
            status = "slot " + ev.Slot + " in " + client.Room;
            foreach (var m in ev.Members)
                positions[m.Slot] = new[] { 0, 0 };
        };
        client.TickReceived += Step;
        client.Disconnected += error => status = "reconnecting (" + error.Message + ")";
        client.Resumed += ev => status = "slot " + ev.Slot + " in " + client.Room;
        client.UdpModeChanged += mode => Debug.Log("tickcast: UDP " + mode);   // Active: ticks by datagram
        client.Closed += error =>
        {
            status = error == null ? "left" : "stopped: " + error.Message;
            if (error != null)
                Debug.LogWarning("tickcast: " + error.Message);
        };
        client.Start();   // connects in the background; never blocks the frame
    }

    void Update()
    {
        if (client == null)
            return;
        client.Poll();   // ticks, welcome, disconnects: all handled here, on the main thread
        if (Input.GetKeyDown(KeyCode.LeftArrow)) pendingMove = (byte)'L';
        if (Input.GetKeyDown(KeyCode.RightArrow)) pendingMove = (byte)'R';
        if (Input.GetKeyDown(KeyCode.UpArrow)) pendingMove = (byte)'U';
        if (Input.GetKeyDown(KeyCode.DownArrow)) pendingMove = (byte)'D';
        if (pendingMove != 0 && !client.IsClosed)
        {
            client.Send(new[] { pendingMove });   // applied when it comes back in a tick, like everyone's
            pendingMove = 0;
        }
    }

    /// <summary>The deterministic simulation: joined, then inputs in order, then left.</summary>
    void Step(Tick tick)
    {
        foreach (var m in tick.Joined)
            positions[m.Slot] = new[] { 0, 0 };
        foreach (var input in tick.Inputs)
        {
            int[] p;
            if (input.Payload.Length == 0 || !positions.TryGetValue(input.Slot, out p))
                continue;
            switch ((char)input.Payload[0])
            {
                case 'L': p[0]--; break;
                case 'R': p[0]++; break;
                case 'U': p[1]++; break;
                case 'D': p[1]--; break;
            }
        }
        foreach (var m in tick.Left)
            positions.Remove(m.Slot);
        foreach (var desync in tick.Desyncs)
            Debug.LogError("tickcast: slots " + string.Join(",", desync.Slots) + " disagree about tick " + desync.Tick);
        if (tick.Number % 30 == 0)
            client.SendStateHash(tick.Number, StateHash());
    }

    byte[] StateHash()
    {
        // FNV-1a over (slot, x, y) in slot order: the same on every client with the same ticks
        var slots = new List<uint>(positions.Keys);
        slots.Sort();
        uint hash = 2166136261;
        foreach (var slot in slots)
            foreach (int v in new[] { (int)slot, positions[slot][0], positions[slot][1] })
                for (int i = 0; i < 4; i++)
                    hash = (hash ^ (byte)(v >> (8 * i))) * 16777619;
        return new[] { (byte)hash, (byte)(hash >> 8), (byte)(hash >> 16), (byte)(hash >> 24) };
    }

    void OnGUI()
    {
        var text = new StringBuilder("tickcast: " + status + ", tick " + (client == null ? 0 : client.LastTick) + "\n");
        foreach (var entry in positions)
            text.Append("slot " + entry.Key + " at (" + entry.Value[0] + ", " + entry.Value[1] + ")\n");
        GUILayout.Label(text.ToString());
    }

    void OnDestroy()
    {
        // leave the room (the others see it at once) and stop the socket thread,
        // which Unity does not stop for you when play mode ends
        if (client != null)
            client.Close();
    }
}
