// JUnit: JNI_OnLoad against a SyncMessage class that lacks a field fails cleanly under -Xcheck:jni (no JNI call with an exception pending).
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

public class NativeLoadTest {
    /** The vendor class as an older or obfuscated app might ship it: no userId field. */
    static final String BROKEN_SYNC_MESSAGE =
            "package com.alipay.mobile.rome.longlinkservice.syncmodel;\n"
            + "public class SyncMessage {\n"
            + "    public String biz;\n"
            + "    public String msgData;\n"
            + "    public String pushData;\n"
            + "    public String id;\n"
            + "    public boolean hasMore;\n"
            + "}\n";

    private File tmp;

    /** Run in the child JVM: loads the shim (MPSync's static initializer) and says what happened. */
    public static final class LoadShim {
        public static void main(String[] args) {
            try {
                Class.forName("com.mpaas.mss.adapter.api.MPSync");
                System.out.println("LOADED");
            } catch (Throwable t) {
                for (Throwable c = t; c != null; c = c.getCause()) {
                    System.out.println("THROWN " + c);
                }
            }
        }
    }

    @Before
    public void makeDir() throws IOException {
        tmp = Files.createTempDirectory("mpsync-jni-load-").toFile();
    }

    @After
    public void removeDir() throws IOException {
        SyncTestBase.deleteTree(tmp.toPath());
    }

    /**
     * Issue 12 defect 10: JNI_OnLoad looked up every member even after one lookup failed, so the
     * next JNI calls ran with NoSuchFieldError pending, which -Xcheck:jni reports (and which is
     * undefined behaviour without it). It must stop at the first failure and let System.loadLibrary
     * throw that error.
     */
    @Test
    public void missingFieldFailsTheLoadWithoutJniMisuse() throws Exception {
        File src = new File(tmp, "src/com/alipay/mobile/rome/longlinkservice/syncmodel/SyncMessage.java");
        File classes = new File(tmp, "classes");
        assertTrue(src.getParentFile().mkdirs() && classes.mkdirs());
        Files.write(src.toPath(), BROKEN_SYNC_MESSAGE.getBytes(StandardCharsets.UTF_8));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertEquals(0, javac.run(null, null, null, "-d", classes.getPath(), src.getPath()));

        // The broken class first on the class path, so it shadows the real one.
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        ProcessBuilder pb = new ProcessBuilder(Arrays.asList(java, "-Xcheck:jni",
                "-Djava.library.path=" + System.getProperty("java.library.path"),
                "-cp", classes.getPath() + File.pathSeparator + System.getProperty("java.class.path"),
                LoadShim.class.getName()));
        pb.redirectErrorStream(true);
        tolerateJvmUnloadBugUnderAsan(pb);
        Process p = pb.start();
        String out = readAll(p.getInputStream());
        assertTrue("child JVM did not finish", p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(out, 0, p.exitValue());
        assertFalse(out, out.contains("WARNING in native method"));
        assertFalse(out, out.contains("FATAL ERROR"));
        assertFalse(out, out.contains("LOADED"));
        assertTrue(out, out.contains("THROWN java.lang.NoSuchFieldError") && out.contains("userId"));
    }

    /**
     * Under scripts/sanitize.sh the child inherits the preloaded ASan runtime. HotSpot 17 then
     * reports a use-after-free of its own: when it unloads a library whose JNI_OnLoad failed,
     * os::dll_unload logs the library's path after dlclose freed it (the event log added by
     * JDK-8288003). That report, and only reports from interceptors called by libjvm.so, are
     * suppressed for this child; everything of ours stays checked.
     */
    private void tolerateJvmUnloadBugUnderAsan(ProcessBuilder pb) throws IOException {
        Map<String, String> env = pb.environment();
        String preload = env.get("LD_PRELOAD");
        if (preload == null || !preload.contains("libasan")) {
            return;
        }
        File supp = new File(tmp, "asan.supp");
        Files.write(supp.toPath(), "interceptor_via_lib:libjvm.so\n".getBytes(StandardCharsets.UTF_8));
        String opts = env.get("ASAN_OPTIONS");
        env.put("ASAN_OPTIONS", (opts == null || opts.isEmpty() ? "" : opts + ":") + "suppressions=" + supp.getPath());
    }

    private static String readAll(InputStream in) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[4096];
        for (int n; (n = in.read(chunk)) > 0; ) {
            buf.write(chunk, 0, n);
        }
        return new String(buf.toByteArray(), StandardCharsets.UTF_8);
    }
}
