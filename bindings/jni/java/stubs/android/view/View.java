// Compile-only stub of android.view.View (test source set; never shipped), for the sample's button handler.
// SPDX-License-Identifier: Apache-2.0
package android.view;

public class View {
}
