// Vendor connection-state event (SPEC §5) passed to ConnectionListener.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mobile.rome.longlinkservice;

/** A long-link state change. Immutable. */
public class ConnectionEvent {
    /** The states; the order and names are the vendor's. */
    public enum Type { Unknown, Connecting, Connected, ConnectFailed, Disconnected }

    private final Type type;
    private final String reason;

    public ConnectionEvent(Type type) {
        this(type, "");
    }

    /** {@code reason} is a short text for ConnectFailed and Disconnected ("" otherwise). */
    public ConnectionEvent(Type type, String reason) {
        this.type = type == null ? Type.Unknown : type;
        this.reason = reason == null ? "" : reason;
    }

    public Type getEventType() {
        return type;
    }

    /** True only for {@link Type#Connected}. */
    public boolean isConnected() {
        return type == Type.Connected;
    }

    /** Why the link failed or closed; "" when the SDK gave no reason. */
    public String getReason() {
        return reason;
    }

    @Override
    public String toString() {
        return reason.isEmpty() ? "ConnectionEvent{" + type + "}" : "ConnectionEvent{" + type + ": " + reason + "}";
    }
}
