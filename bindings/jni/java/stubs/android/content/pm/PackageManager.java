// Compile-only stub of android.content.pm.PackageManager (test source set; never shipped): the package lookup MPSync uses.
// SPDX-License-Identifier: Apache-2.0
package android.content.pm;

/** Same signatures as the Android class, so code compiled against it links on a device. */
public abstract class PackageManager {
    /** Android's is an AndroidException; what matters here is that it is checked. */
    public static class NameNotFoundException extends Exception {
        private static final long serialVersionUID = 1L;

        public NameNotFoundException() {
        }

        public NameNotFoundException(String name) {
            super(name);
        }
    }

    public abstract PackageInfo getPackageInfo(String packageName, int flags) throws NameNotFoundException;
}
