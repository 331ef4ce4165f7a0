// Test helper: a desktop android.content.Context (over the compile-only stubs) with a temp files dir and assets dir.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import android.content.Context;
import android.content.res.AssetManager;
import java.io.File;

final class TestContext extends Context {
    final File filesDir;
    final File assetsDir;

    TestContext(File root) {
        filesDir = new File(root, "files");
        assetsDir = new File(root, "assets");
        filesDir.mkdirs();
        assetsDir.mkdirs();
    }

    @Override
    public File getFilesDir() {
        return filesDir;
    }

    @Override
    public AssetManager getAssets() {
        return new AssetManager(assetsDir);
    }

    @Override
    public Context getApplicationContext() {
        return this;
    }
}
