// Test helper: a desktop android.content.Context (over the compile-only stubs) with a temp files dir, assets dir and package version.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mss.adapter.api;

import android.content.Context;
import android.content.pm.PackageInfo;
import android.content.pm.PackageManager;
import android.content.res.AssetManager;
import java.io.File;

final class TestContext extends Context {
    static final String PACKAGE = "com.mpaas.mss.test";

    final File filesDir;
    final File assetsDir;
    /** The manifest's versionName as PackageManager reports it (null: the app has none). */
    volatile String versionName = "3.1.0";

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

    @Override
    public String getPackageName() {
        return PACKAGE;
    }

    @Override
    public PackageManager getPackageManager() {
        return new PackageManager() {
            @Override
            public PackageInfo getPackageInfo(String name, int flags) throws NameNotFoundException {
                // As on a device: only installed packages are found.
                if (!PACKAGE.equals(name)) {
                    throw new NameNotFoundException(name);
                }
                PackageInfo info = new PackageInfo();
                info.packageName = name;
                info.versionName = versionName;
                return info;
            }
        };
    }
}
