// The vendor's Android sync facade (SPEC §5, guide §4.1/§7.1): static methods, each a thin call into libmpsync via JNI.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import android.app.Application;
import android.content.Context;
import android.content.pm.PackageInfo;
import android.content.pm.PackageManager;
import com.alipay.mobile.rome.longlinkservice.ConnectionListener;
import com.alipay.mobile.rome.longlinkservice.ISyncCallback;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import com.mpaas.mas.adapter.api.MPLogger;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Data sync for Android apps, source-compatible with the mPaaS {@code MPSync} class.
 *
 * <p>Every method may be called from any thread, including from inside a callback. Callbacks and
 * connection listeners run on SDK delivery threads ("mpsync-delivery-N"): one bizType's messages
 * one at a time and in order, different bizTypes side by side. Like the vendor API, the methods
 * do not throw for bad input or a missing {@link #initialize}; they log (logger "mpsync") and do
 * nothing, and the boolean methods answer false.
 *
 * <p>Where {@link #initialize} finds its files:
 * <ul>
 * <li>meta.config: the system property {@code mpsync.metaConfig} (a path), else
 * {@code <filesDir>/meta.config}, else the asset {@code meta.config} (copied to
 * {@code <filesDir>/mpsync/meta.config}, because the C core reads a file path).</li>
 * <li>cache directory: the system property {@code mpsync.dataDir}, else {@code <filesDir>/mpsync}.</li>
 * <li>log level of the C core: the system property {@code mpsync.logLevel}
 * (error|warn|info|debug, default info).</li>
 * <li>app version for the server's appMinVersion/appMaxVersion filters: meta.config's
 * {@code mpsyncAppVersion} when set, else the app's {@code versionName} from
 * {@code PackageManager}, else "1.0.0".</li>
 * </ul>
 * The system properties are how a desktop JVM (tests, tools) runs without an Android Context.
 */
public final class MPSync {
    private static final Logger LOG = Logger.getLogger("mpsync");

    /** Guards initialization; never held while calling into the SDK's delivery machinery. */
    private static final Object INIT_LOCK = new Object();
    private static Context appContext;
    private static volatile boolean initialized;

    static {
        // libmpsync_jni links libmpsync; on Android both sit in the APK's lib/<abi>/ directory.
        System.loadLibrary("mpsync_jni");
    }

    private MPSync() {
    }

    /** Remembers the application so that {@link #initialize} works with any Context (or null). */
    public static void setup(Application application) {
        synchronized (INIT_LOCK) {
            if (application != null) {
                appContext = application;
            }
        }
    }

    /**
     * Starts the SDK: reads meta.config, opens the cache, starts the SDK threads. Once per process;
     * later calls do nothing. The link opens at {@link #appToForeground}.
     */
    public static void initialize(Context ctx) {
        synchronized (INIT_LOCK) {
            if (initialized) {
                return;
            }
            Context context = ctx != null ? ctx : appContext;
            String meta = System.getProperty("mpsync.metaConfig");
            String dataDir = System.getProperty("mpsync.dataDir");
            try {
                if (meta == null) {
                    meta = metaConfigFrom(context);
                }
                if (dataDir == null) {
                    dataDir = new File(filesDir(context), "mpsync").getPath();
                }
            } catch (IOException | RuntimeException e) {
                LOG.log(Level.SEVERE, "MPSync.initialize: cannot locate meta.config or the data dir", e);
                return;
            }
            int rc = nativeInit(meta, dataDir, appVersion(context),
                    logLevel(System.getProperty("mpsync.logLevel")));
            if (rc != 0) {
                LOG.severe("MPSync.initialize(meta.config " + meta + ", data " + dataDir + ") failed: "
                        + nativeStrerror(rc));
                return;
            }
            initialized = true;
        }
    }

    /** Connects (or keeps) the long-link; also hands unreported messages out again. Call in onResume. */
    public static void appToForeground() {
        check("appToForeground", nativeForeground());
    }

    /** Closes the long-link; nothing is sent while in the background. Call in onStop. */
    public static void appToBackground() {
        check("appToBackground", nativeBackground());
    }

    /**
     * Binds the user set with {@link MPLogger#setUserId} and this session. Call at login and whenever
     * either changes.
     *
     * @return false when no user id is set, when sessionId is null or empty (the guide: "neither
     *     may be empty at login"; the binding stays as it was), or when the SDK refused them; true
     *     otherwise
     */
    public static boolean updateUserInfo(String sessionId) {
        String userId = MPLogger.getUserId();
        if (userId == null || userId.isEmpty()) {
            LOG.warning("MPSync.updateUserInfo: no userId set with MPLogger.setUserId");
            return false;
        }
        if (sessionId == null || sessionId.isEmpty()) {
            LOG.warning("MPSync.updateUserInfo: null or empty sessionId");
            return false;
        }
        return check("updateUserInfo", nativeBindUser(userId, sessionId));
    }

    /** Logout: no message of the previous user is delivered any more. */
    public static void clearUserInfo() {
        check("clearUserInfo", nativeClearUser());
    }

    /**
     * Sets the callback of a bizType (replacing an earlier one) and delivers its cached backlog.
     * The SDK holds the callback until {@link #unregisterBiz}.
     */
    public static void registerBiz(String biz, ISyncCallback callback) {
        if (biz == null || callback == null) {
            LOG.warning("MPSync.registerBiz: null bizType or callback");
            return;
        }
        check("registerBiz(" + biz + ")", nativeRegister(biz, callback));
    }

    /**
     * Stops delivery for a bizType and releases its callback; its data stays cached. When it returns
     * the callback is not running (unless this is called from inside it) and will not run again.
     */
    public static void unregisterBiz(String biz) {
        if (biz == null) {
            LOG.warning("MPSync.unregisterBiz: null bizType");
            return;
        }
        check("unregisterBiz(" + biz + ")", nativeUnregister(biz));
    }

    /**
     * The app has the message: its oplogs leave the cache and the next message of that bizType
     * follows. Without it the message is delivered again (at most 6 times in all).
     */
    public static void reportMsgReceived(SyncMessage msg) {
        if (msg == null || msg.biz == null || msg.id == null) {
            LOG.warning("MPSync.reportMsgReceived: message without biz or id");
            return;
        }
        check("reportMsgReceived(" + msg.biz + ")", nativeReport(msg.biz, msg.id));
    }

    /** True while the long-link is up and its handshake done. */
    public static boolean isConnected() {
        return nativeIsConnected();
    }

    /** Adds a connection-state listener (once; adding it again does nothing). */
    public static void addConnectionListener(ConnectionListener listener) {
        if (listener == null) {
            return;
        }
        check("addConnectionListener", nativeAddListener(listener));
    }

    /** Removes a listener added earlier and releases it. */
    public static void removeConnectionListener(ConnectionListener listener) {
        if (listener == null) {
            return;
        }
        nativeRemoveListener(listener);
    }

    /**
     * Stops the SDK and releases every callback and listener, so that {@link #initialize} can start
     * it again (tests). Not part of the vendor API. Calls on other threads may run meanwhile: those
     * already inside the SDK finish first, later ones do nothing. Not from a callback.
     */
    static void shutdown() {
        synchronized (INIT_LOCK) {
            nativeShutdown();
            initialized = false;
        }
    }

    // ---------------------------------------------------------------- helpers

    private static boolean check(String what, int rc) {
        if (rc == 0) {
            return true;
        }
        LOG.warning("MPSync." + what + ": " + nativeStrerror(rc));
        return false;
    }

    private static File filesDir(Context context) {
        if (context == null) {
            throw new IllegalStateException("no Context: call MPSync.setup(application) or pass a Context");
        }
        File dir = context.getFilesDir();
        if (dir == null) {
            throw new IllegalStateException("Context.getFilesDir() is null");
        }
        return dir;
    }

    private static String metaConfigFrom(Context context) throws IOException {
        File files = filesDir(context);
        File plain = new File(files, "meta.config");
        if (plain.isFile()) {
            return plain.getPath();
        }
        // The usual place on Android is the asset; the C core wants a path, so copy it out.
        File dir = new File(files, "mpsync");
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File copy = new File(dir, "meta.config");
        try (InputStream in = context.getAssets().open("meta.config");
             OutputStream out = new FileOutputStream(copy)) {
            byte[] buf = new byte[4096];
            for (int n; (n = in.read(buf)) > 0; ) {
                out.write(buf, 0, n);
            }
        }
        return copy.getPath();
    }

    /** Longest app version the C core takes (mpsync_config.app_version, in UTF-8 bytes). */
    private static final int MAX_APP_VERSION = 20;

    /**
     * The app's versionName, for the server's version filters; null when there is none (the core
     * then reports "1.0.0"). A versionName longer than the core takes ("2.4.1-beta-20240101")
     * is cut to its leading dotted number, which is what the server compares anyway.
     */
    private static String appVersion(Context context) {
        if (context == null) {
            return null;
        }
        String name;
        try {
            PackageManager pm = context.getPackageManager();
            PackageInfo info = pm == null ? null : pm.getPackageInfo(context.getPackageName(), 0);
            name = info == null ? null : info.versionName;
        } catch (PackageManager.NameNotFoundException | RuntimeException e) {
            LOG.log(Level.WARNING, "MPSync.initialize: no versionName from PackageManager", e);
            return null;
        }
        if (name == null || name.isEmpty()) {
            return null;
        }
        if (name.getBytes(StandardCharsets.UTF_8).length <= MAX_APP_VERSION) {
            return name;
        }
        int end = 0;
        int limit = Math.min(name.length(), MAX_APP_VERSION);
        while (end < limit && (name.charAt(end) == '.' || name.charAt(end) >= '0' && name.charAt(end) <= '9')) {
            end++;
        }
        String numeric = name.substring(0, end);
        LOG.warning("MPSync.initialize: versionName \"" + name + "\" is over " + MAX_APP_VERSION
                + " bytes; reporting " + (numeric.isEmpty() ? "the default" : "\"" + numeric + "\""));
        return numeric.isEmpty() ? null : numeric;
    }

    /** mpsync_log_level: error 0, warn 1, info 2, debug 3. */
    private static int logLevel(String name) {
        if ("error".equalsIgnoreCase(name)) {
            return 0;
        }
        if ("warn".equalsIgnoreCase(name)) {
            return 1;
        }
        if ("debug".equalsIgnoreCase(name)) {
            return 3;
        }
        return 2;
    }

    // ---------------------------------------------------------------- JNI (bindings/jni/mpsync_jni.c)
    // Each returns 0 or a negative libmpsync error code (MPSYNC_ESHUTDOWN before initialize).

    /** appVersion: the versionName, or null; meta.config's mpsyncAppVersion wins over it. */
    private static native int nativeInit(String metaConfigPath, String dataDir, String appVersion, int logLevel);

    private static native void nativeShutdown();

    private static native int nativeForeground();

    private static native int nativeBackground();

    private static native int nativeBindUser(String userId, String sessionId);

    private static native int nativeClearUser();

    private static native int nativeRegister(String biz, ISyncCallback callback);

    private static native int nativeUnregister(String biz);

    private static native int nativeReport(String biz, String id);

    private static native boolean nativeIsConnected();

    private static native int nativeAddListener(ConnectionListener listener);

    private static native int nativeRemoveListener(ConnectionListener listener);

    private static native String nativeStrerror(int rc);
}
