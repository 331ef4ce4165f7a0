// Test helper: runs build/bin/mpsync-mock-server on free loopback ports in a temp dir and pushes through its HTTP API.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

final class MockServer implements AutoCloseable {
    private static final Pattern READY =
            Pattern.compile("mpsync-mock-server ready http=127\\.0\\.0\\.1:(\\d+) link=127\\.0\\.0\\.1:(\\d+)"
                    + "(?: link_tls=127\\.0\\.0\\.1:(\\d+))?");

    final File dir;
    final File log;
    final int httpPort;
    final int linkPort;
    /** The TLS link listener's port; 0 when the server has none. */
    final int linkTlsPort;
    private Process proc;

    /** Starts the server with the given biz-file JSON; waits for its one "ready" line. */
    MockServer(File dir, String bizJson) throws Exception {
        this(dir, bizJson, null, null);
    }

    /** Also listens for TLS links when a certificate and key (PEM files) are given. */
    MockServer(File dir, String bizJson, File cert, File key) throws Exception {
        String build = System.getProperty("mpsync.buildDir");
        if (build == null) {
            throw new IllegalStateException("-Dmpsync.buildDir=<cmake build dir> is required");
        }
        this.dir = dir;
        Files.createDirectories(dir.toPath());
        File biz = new File(dir, "biz.json");
        Files.write(biz.toPath(), bizJson.getBytes(StandardCharsets.UTF_8));
        log = new File(dir, "server.log");
        List<String> cmd = new ArrayList<>(Arrays.asList(
                new File(build, "bin/mpsync-mock-server").getPath(),
                "--http", "127.0.0.1:0", "--link", "127.0.0.1:0",
                "--data", new File(dir, "state").getPath(), "--biz-file", biz.getPath(),
                // Lets a test push text that is not UTF-8, as a broken server might send (C22).
                "--text-utf8", "lenient",
                // Standard input is the JVM's pipe: a JVM killed mid-test takes its server along.
                "--exit-with-stdin"));
        if (cert != null) {
            cmd.addAll(Arrays.asList("--link-tls", "127.0.0.1:0", "--cert", cert.getPath(),
                    "--key", key.getPath()));
        }
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.redirectError(log); // a file, not a pipe: a chatty server can never block on it
        proc = pb.start();
        InputStream out = proc.getInputStream();
        BufferedReader reader = new BufferedReader(new InputStreamReader(out, StandardCharsets.UTF_8));
        CompletableFuture<String> first = CompletableFuture.supplyAsync(() -> {
            try {
                return reader.readLine();
            } catch (IOException e) {
                return null;
            }
        });
        String line;
        try {
            line = first.get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            line = null;
        }
        Matcher m = line == null ? null : READY.matcher(line);
        if (m == null || !m.matches()) {
            close();
            throw new IllegalStateException("mock server not ready: " + line + "\n" + logText());
        }
        httpPort = Integer.parseInt(m.group(1));
        linkPort = Integer.parseInt(m.group(2));
        linkTlsPort = m.group(3) == null ? 0 : Integer.parseInt(m.group(3));
        Thread drain = new Thread(() -> { // keep stdout flowing after the ready line
            try {
                while (reader.readLine() != null) {
                    // discard
                }
            } catch (IOException ignored) {
                // the server exited
            }
        }, "mock-server-stdout");
        drain.setDaemon(true);
        drain.start();
    }

    /** meta.config pointing a client at this server (plain TCP: TLS is not implemented yet). */
    String metaConfig(String workspaceId, String appId) {
        return "{\"appId\":\"" + appId + "\",\"workspaceId\":\"" + workspaceId + "\",\"appKey\":\"k\","
                + "\"syncserver\":\"127.0.0.1\",\"syncport\":\"" + linkPort + "\",\"mpsyncPlaintext\":true}";
    }

    /** meta.config pointing a client at the TLS listener, by address; extra is more JSON members. */
    String tlsMetaConfig(String workspaceId, String appId, String extra) {
        return "{\"appId\":\"" + appId + "\",\"workspaceId\":\"" + workspaceId + "\",\"appKey\":\"k\","
                + "\"syncserver\":\"127.0.0.1\",\"syncport\":\"" + linkTlsPort + "\"" + extra + "}";
    }

    /** POST /webapi/sync/single; returns the answer's "msg" code (SUCCESS, NOT_ONLINE, ...). */
    String pushSingle(String instanceId, Map<String, String> body) throws IOException {
        StringBuilder json = new StringBuilder("{");
        for (Map.Entry<String, String> e : body.entrySet()) {
            if (json.length() > 1) {
                json.append(',');
            }
            json.append(Json.quote(e.getKey())).append(':').append(Json.quote(e.getValue()));
        }
        json.append('}');
        return pushSingleRaw(instanceId, json.toString().getBytes(StandardCharsets.UTF_8));
    }

    /** POST /webapi/sync/single with this exact body: for bytes a String cannot hold (invalid UTF-8). */
    String pushSingleRaw(String instanceId, byte[] body) throws IOException {
        URL url = new URL("http://127.0.0.1:" + httpPort + "/webapi/sync/single?instanceId=" + instanceId);
        HttpURLConnection c = (HttpURLConnection) url.openConnection();
        c.setRequestMethod("POST");
        c.setDoOutput(true);
        c.setConnectTimeout(5000);
        c.setReadTimeout(10000);
        c.setRequestProperty("Content-Type", "application/json; charset=utf-8");
        try (OutputStream o = c.getOutputStream()) {
            o.write(body);
        }
        int status = c.getResponseCode();
        InputStream in = status < 400 ? c.getInputStream() : c.getErrorStream();
        String answer = new String(readAll(in), StandardCharsets.UTF_8);
        if (status != 200) {
            throw new IOException("push answered HTTP " + status + ": " + answer);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) Json.parse(answer);
        return (String) m.get("msg");
    }

    String logText() {
        try {
            return new String(Files.readAllBytes(log.toPath()), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no server log)";
        }
    }

    /** SIGTERM, then SIGKILL if it lingers; idempotent. */
    @Override
    public void close() {
        Process p = proc;
        proc = null;
        if (p == null) {
            return;
        }
        p.destroy();
        try {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        if (in == null) {
            return new byte[0];
        }
        try (InputStream i = in) {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            for (int n; (n = i.read(buf)) > 0; ) {
                b.write(buf, 0, n);
            }
            return b.toByteArray();
        }
    }
}
