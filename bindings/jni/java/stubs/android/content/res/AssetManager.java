// Compile-only stub of android.content.res.AssetManager (test source set; never shipped): assets read from a directory.
// SPDX-License-Identifier: Apache-2.0
package android.content.res;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

public final class AssetManager {
    private final File root;

    /** Desktop stand-in: the APK's assets/ directory is a plain directory here. */
    public AssetManager(File root) {
        this.root = root;
    }

    public InputStream open(String fileName) throws IOException {
        return new FileInputStream(new File(root, fileName));
    }
}
