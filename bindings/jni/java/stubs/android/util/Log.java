// Compile-only stub of android.util.Log (test source set; never shipped): prints to stderr like logcat would show.
// SPDX-License-Identifier: Apache-2.0
package android.util;

public final class Log {
    /** Test hook (this stub never ships): every line is also handed here, so tests can watch logcat. */
    public static volatile java.util.function.Consumer<String> sink;

    private Log() {
    }

    public static int e(String tag, String msg) {
        return println("E", tag, msg);
    }

    public static int w(String tag, String msg) {
        return println("W", tag, msg);
    }

    public static int i(String tag, String msg) {
        return println("I", tag, msg);
    }

    public static int d(String tag, String msg) {
        return println("D", tag, msg);
    }

    private static int println(String level, String tag, String msg) {
        if (msg == null) {
            // As on Android, where Log.println rejects a null message.
            throw new NullPointerException("println needs a message");
        }
        String line = level + "/" + tag + ": " + msg;
        System.err.println(line);
        java.util.function.Consumer<String> s = sink;
        if (s != null) {
            s.accept(line);
        }
        return line.length();
    }
}
