// Stand-ins for the few UnityEngine APIs that Samples~/Unity uses, so that build.sh
// can compile the MonoBehaviour sample without Unity (the signatures are Unity's;
// nothing here runs). Not part of the Unity package (Tools~ is ignored by Unity).
using System;

namespace UnityEngine
{
    public class Object { }
    public class Component : Object { }
    public class Behaviour : Component { }
    public class MonoBehaviour : Behaviour { }

    [AttributeUsage(AttributeTargets.Field)]
    public sealed class SerializeField : Attribute { }

    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogError(object message) { }
    }

    public enum KeyCode { Space = 32, UpArrow = 273, DownArrow = 274, RightArrow = 275, LeftArrow = 276 }

    public static class Input
    {
        public static bool GetKeyDown(KeyCode key) { return false; }
    }

    public static class GUILayout
    {
        public static void Label(string text, params object[] options) { }
    }
}
