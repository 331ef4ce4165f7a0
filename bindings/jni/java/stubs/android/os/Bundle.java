// Compile-only stub of android.os.Bundle (test source set; never shipped).
// SPDX-License-Identifier: Apache-2.0
package android.os;

public final class Bundle {
}
