// How the Android SDK decides to trust the sync server: the system CA directory (default) or the platform's X509TrustManager.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import java.io.ByteArrayInputStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.logging.Level;
import java.util.logging.Logger;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * Server trust for {@link MPSync}. Not part of the vendor API; call before
 * {@link MPSync#initialize}, which reads the choice once.
 *
 * <p>By default the native core verifies the server itself, against the {@code mpsyncCaFile} of
 * {@code meta.config} or else the system CA directory ({@code /system/etc/security/cacerts}, or the
 * Conscrypt module's on Android 14+). That ignores what only the platform knows: the app's network
 * security config, CAs the user added or the system distrusted since. An app that wants Android's
 * own verdict calls {@link #usePlatformTrustManager()}: every handshake then hands the server's
 * chain to the default {@link X509TrustManager}'s {@code checkServerTrusted}, plus a host-name
 * check, and that verdict is final (the core's "hook decides" mode, docs/LINK.md). Pins in
 * {@code meta.config} ({@code mpsyncPin}) still apply before it.
 */
public final class MPSyncTrust {
    private static final Logger LOG = Logger.getLogger("mpsync");
    private static volatile X509TrustManager manager;

    private MPSyncTrust() {
    }

    /**
     * Verifies the server with the platform's default trust manager (TrustManagerFactory's default
     * algorithm over the system key store: on Android, the system and user CAs as the app's network
     * security config allows them).
     *
     * @throws GeneralSecurityException when the platform has no X509TrustManager
     */
    public static void usePlatformTrustManager() throws GeneralSecurityException {
        TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init((KeyStore) null);
        for (TrustManager tm : f.getTrustManagers()) {
            if (tm instanceof X509TrustManager) {
                useTrustManager((X509TrustManager) tm);
                return;
            }
        }
        throw new GeneralSecurityException("no X509TrustManager in " + f.getAlgorithm());
    }

    /**
     * Verifies the server with {@code tm} (an app's own, e.g. built from a bundled key store), or,
     * with null, goes back to the core's own check (the default).
     */
    public static void useTrustManager(X509TrustManager tm) {
        manager = tm;
    }

    /** True when {@link MPSync#initialize} should hand verification to the trust manager. */
    static boolean enabled() {
        return manager != null;
    }

    /**
     * Called by the JNI shim on the SDK's network thread during each TLS handshake, with the
     * chain the server sent (DER, leaf first) and the host it must name. Never throws: any failure
     * is a refusal. Must stay quick: no message moves while it runs.
     */
    static boolean verify(byte[][] der, String host) {
        X509TrustManager tm = manager;
        if (tm == null || der == null || der.length == 0 || host == null) {
            return false;
        }
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            X509Certificate[] chain = new X509Certificate[der.length];
            for (int i = 0; i < der.length; i++) {
                chain[i] = (X509Certificate) cf.generateCertificate(new ByteArrayInputStream(der[i]));
            }
            tm.checkServerTrusted(chain, authType(chain[0]));
            if (!namesHost(chain[0], host)) {
                LOG.warning("server certificate does not name " + host);
                return false;
            }
            return true;
        } catch (CertificateException | RuntimeException e) {
            LOG.log(Level.WARNING, "server certificate refused: " + e.getMessage());
            return false;
        }
    }

    /** The key-exchange name checkServerTrusted expects, from the leaf's key (the TLS 1.2 suites
     * the core offers are all ECDHE; TLS 1.3 has no such name and Android accepts "GENERIC"). */
    static String authType(X509Certificate leaf) {
        String alg = leaf.getPublicKey().getAlgorithm();
        if ("RSA".equals(alg)) {
            return "ECDHE_RSA";
        }
        if ("EC".equals(alg)) {
            return "ECDHE_ECDSA";
        }
        return "GENERIC";
    }

    /**
     * Whether the certificate names {@code host} in its subjectAltName (RFC 6125, as Android's
     * verifier does it: no Common Name fallback; a wildcard only as the whole left-most label and
     * never for an IP address).
     */
    static boolean namesHost(X509Certificate cert, String host) throws CertificateException {
        Collection<List<?>> sans = cert.getSubjectAlternativeNames();
        if (sans == null) {
            return false;
        }
        boolean ip = isIpLiteral(host);
        String want = ip ? canonicalIp(host) : lowerNoDot(host);
        for (List<?> san : sans) {
            int type = (Integer) san.get(0);
            Object value = san.get(1);
            if (!(value instanceof String)) {
                continue;
            }
            if (ip && type == 7 && want.equals(canonicalIp((String) value))) {
                return true;
            }
            if (!ip && type == 2 && dnsMatches(lowerNoDot((String) value), want)) {
                return true;
            }
        }
        return false;
    }

    private static boolean dnsMatches(String pattern, String host) {
        if (!pattern.startsWith("*.")) {
            return pattern.equals(host);
        }
        int dot = host.indexOf('.');
        // "*.example.com" covers one label: a.example.com, not example.com or a.b.example.com.
        return dot > 0 && pattern.indexOf('.', 2) > 0 && host.substring(dot).equals(pattern.substring(1));
    }

    private static String lowerNoDot(String s) {
        String l = s.toLowerCase(Locale.ROOT);
        return l.endsWith(".") ? l.substring(0, l.length() - 1) : l;
    }

    private static boolean isIpLiteral(String s) {
        return s.indexOf(':') >= 0 || s.matches("[0-9]{1,3}(\\.[0-9]{1,3}){3}");
    }

    /** One spelling per address. Only literals reach here, so nothing is looked up. */
    private static String canonicalIp(String s) {
        try {
            String t = s.startsWith("[") && s.endsWith("]") ? s.substring(1, s.length() - 1) : s;
            if (!isIpLiteral(t)) {
                return "not-an-address:" + t;
            }
            return InetAddress.getByName(t).getHostAddress();
        } catch (UnknownHostException e) {
            return "not-an-address:" + s;
        }
    }
}
