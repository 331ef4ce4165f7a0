// JUnit: server trust through MPSyncTrust — an app's X509TrustManager decides each TLS handshake (refuse: no link; accept: messages flow).
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import com.alipay.mobile.rome.longlinkservice.ConnectionListener;
import com.alipay.mobile.rome.longlinkservice.syncmodel.SyncMessage;
import com.mpaas.mas.adapter.api.MPLogger;
import com.mpaas.mobile.rome.longlinkservice.ConnectionEvent;
import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;

public class TrustTest extends SyncTestBase {
    /** tests/tls/make_certs.sh's PKI (the test_pki CTest fixture). */
    private File pki;

    /** A trust manager as an app or Android would have it, here trusting only the test CA. */
    private static X509TrustManager trusting(File caPem) throws Exception {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        try (InputStream in = new FileInputStream(caPem)) {
            ks.setCertificateEntry("test-ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init(ks);
        for (TrustManager tm : f.getTrustManagers()) {
            if (tm instanceof X509TrustManager) {
                return (X509TrustManager) tm;
            }
        }
        throw new AssertionError("no X509TrustManager");
    }

    /** Passes each question on to a real trust manager (or refuses when there is none) and records it. */
    static final class Recording implements X509TrustManager {
        final X509TrustManager real;
        final List<X509Certificate[]> chains = new CopyOnWriteArrayList<>();
        final List<String> authTypes = new CopyOnWriteArrayList<>();

        Recording(X509TrustManager real) {
            this.real = real;
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            chains.add(chain);
            authTypes.add(authType);
            if (real == null) {
                throw new CertificateException("refused by the test's trust manager");
            }
            real.checkServerTrusted(chain, authType);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("not a server");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    @Before
    public void useTlsServer() throws Exception {
        String p = System.getProperty("mpsync.testPki");
        assertNotNull("-Dmpsync.testPki=<dir of tests/tls/make_certs.sh> is required", p);
        pki = new File(p);
        restartServer("server");
    }

    @After
    public void defaultTrust() {
        MPSyncTrust.useTrustManager(null);
    }

    /** The mock server showing `cert` (a certificate of tests/tls/make_certs.sh) over TLS, and a
     * meta.config naming it by address with no CA file: nothing but the trust manager can vouch. */
    private void restartServer(String cert) throws Exception {
        server.close();
        server = new MockServer(new File(tmp, "server-" + cert), BIZ_FILE, new File(pki, cert + ".pem"),
                new File(pki, "server.key"));
        assertTrue(server.linkTlsPort > 0);
        File meta = new File(tmp, "meta.config");
        Files.write(meta.toPath(), server.tlsMetaConfig(WORKSPACE, APP, "").getBytes(StandardCharsets.UTF_8));
    }

    /** Initialises, binds user-1, goes to the foreground; returns the connection events. */
    private BlockingQueue<ConnectionEvent> connect(Recorder rec) {
        BlockingQueue<ConnectionEvent> events = new LinkedBlockingQueue<>();
        ConnectionListener l = events::add;
        MPSync.initialize(context);
        MPSync.addConnectionListener(l);
        MPSync.registerBiz("UCHAT", rec);
        MPLogger.setUserId("user-1");
        assertTrue(MPSync.updateUserInfo("session-1"));
        MPSync.appToForeground();
        return events;
    }

    private static ConnectionEvent next(BlockingQueue<ConnectionEvent> q, ConnectionEvent.Type want)
            throws InterruptedException {
        for (;;) {
            ConnectionEvent e = q.poll(10, TimeUnit.SECONDS);
            assertNotNull("no " + want + " event within 10 s", e);
            if (e.getEventType() == want) {
                return e;
            }
        }
    }

    @Test
    public void acceptingTrustManagerLetsMessagesFlow() throws Exception {
        Recording tm = new Recording(trusting(new File(pki, "ca.pem")));
        MPSyncTrust.useTrustManager(tm);
        Recorder rec = new Recorder();
        BlockingQueue<ConnectionEvent> events = connect(rec);
        next(events, ConnectionEvent.Type.Connected);
        pushOk("UCHAT", "user-1", "m-tls", "over TLS");
        SyncMessage m = rec.take();
        assertTrue(m.msgData, m.msgData.contains("over TLS"));
        // It saw the server's own certificate, as the platform would, with the leaf's key type.
        X509Certificate leaf = tm.chains.get(0)[0];
        assertTrue(leaf.getSubjectX500Principal().getName(), leaf.getSubjectX500Principal().getName()
                .contains("CN=localhost"));
        assertEquals("ECDHE_ECDSA", tm.authTypes.get(0));
    }

    @Test
    public void refusingTrustManagerNeverConnects() throws Exception {
        Recording tm = new Recording(null);
        MPSyncTrust.useTrustManager(tm);
        Recorder rec = new Recorder();
        BlockingQueue<ConnectionEvent> events = connect(rec);
        ConnectionEvent failed = next(events, ConnectionEvent.Type.ConnectFailed);
        assertTrue(failed.getReason(), failed.getReason().contains("certificate check refused"));
        assertFalse(tm.chains.isEmpty());
        assertFalse(MPSync.isConnected());
        assertEquals("NOT_ONLINE", push("UCHAT", "user-1", "never", "x"));
        assertEquals(null, rec.got.poll(300, TimeUnit.MILLISECONDS));
    }

    /** A trusted chain for another name is refused: checkServerTrusted alone does not look at it. */
    @Test
    public void trustedChainForAnotherHostIsRefused() throws Exception {
        restartServer("wronghost");
        Recording tm = new Recording(trusting(new File(pki, "ca.pem")));
        MPSyncTrust.useTrustManager(tm);
        BlockingQueue<ConnectionEvent> events = connect(new Recorder());
        next(events, ConnectionEvent.Type.ConnectFailed);
        assertFalse("the chain itself was accepted", tm.chains.isEmpty());
        assertFalse(MPSync.isConnected());
    }

    /** usePlatformTrustManager(): the JVM's (on Android, the system's) CAs, which do not include
     * the test CA; so the server is refused. */
    @Test
    public void platformTrustManagerRefusesAnUnknownCa() throws Exception {
        MPSyncTrust.usePlatformTrustManager();
        BlockingQueue<ConnectionEvent> events = connect(new Recorder());
        ConnectionEvent failed = next(events, ConnectionEvent.Type.ConnectFailed);
        assertTrue(failed.getReason(), failed.getReason().contains("certificate check refused"));
    }

    @Test
    public void hostNameRules() throws Exception {
        X509Certificate leaf;
        try (InputStream in = new FileInputStream(new File(pki, "server.pem"))) {
            leaf = (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        }
        assertTrue(MPSyncTrust.namesHost(leaf, "localhost"));
        assertTrue(MPSyncTrust.namesHost(leaf, "LOCALHOST."));
        assertTrue(MPSyncTrust.namesHost(leaf, "127.0.0.1"));
        assertFalse(MPSyncTrust.namesHost(leaf, "127.0.0.2"));
        assertFalse(MPSyncTrust.namesHost(leaf, "::1"));
        assertFalse(MPSyncTrust.namesHost(leaf, "evil-localhost"));
        assertFalse(MPSyncTrust.namesHost(leaf, "a.localhost"));
    }
}
