package frontdesk

import android.content.Context

/**
 * TLS set-up on Android: `wss://` servers are verified by Android's own trust manager (through
 * rustls-platform-verifier), which the native library can only reach with the app's Context. Call
 * `FrontdeskTls.init(applicationContext)` once, before the first `connect` (e.g. in
 * `Application.onCreate`); until then a `wss://` dial fails with a `TransportError` saying so.
 */
object FrontdeskTls {
    init {
        System.loadLibrary("frontdesk_uniffi")
    }

    @JvmStatic
    private external fun nativeInit(context: Context): Boolean

    /** Hands the verifier the application context; throws if the JVM calls failed. Safe to call again. */
    fun init(context: Context) {
        check(nativeInit(context.applicationContext)) { "frontdesk: TLS verifier initialisation failed (see logcat)" }
    }
}
