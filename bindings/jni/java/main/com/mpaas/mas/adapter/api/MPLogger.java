// The part of the vendor's MPLogger that sync needs: the user id that MPSync.updateUserInfo binds.
// SPDX-License-Identifier: Apache-2.0
package com.mpaas.mas.adapter.api;

/**
 * Holds the logged-in user id, as the vendor's MPLogger does ({@code MPSync.updateUserInfo} reads
 * it). Only the user-id members are provided; the vendor's logging members are not part of
 * libmpsync.
 */
public class MPLogger {
    private static volatile String userId;

    private MPLogger() {
    }

    /** Sets (or with null clears) the user id used by the next {@code MPSync.updateUserInfo}. */
    public static void setUserId(String id) {
        userId = id;
    }

    /** The user id last set, or null. */
    public static String getUserId() {
        return userId;
    }
}
