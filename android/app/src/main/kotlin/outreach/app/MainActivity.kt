package outreach.app

import android.os.Bundle
import android.view.WindowManager
import androidx.activity.compose.setContent
import androidx.compose.material3.MaterialTheme
import androidx.fragment.app.FragmentActivity
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import java.io.File

/**
 * One activity; screens are Compose destinations. FLAG_SECURE keeps case
 * content out of screenshots, screen recording and the recents thumbnail.
 */
class MainActivity : FragmentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        val app = application as OutreachApplication
        val keyStore = KeystoreKeyStore()
        setContent {
            MaterialTheme {
                val repo by app.repository.collectAsState()
                val current = repo
                if (current == null) {
                    if (File(app.vaultDir, "outreach.db").exists()) {
                        UnlockScreen(app.vaultDir, keyStore, quickPrompt = { ok, err -> QuickUnlock.prompt(this, ok, err) }) {
                            app.repository.value = it
                        }
                    } else {
                        // The new vault comes back unlocked: straight to the caseload.
                        SetupScreen(app.vaultDir, keyStore) { app.repository.value = it }
                    }
                } else {
                    val nav = rememberNavController()
                    NavHost(nav, startDestination = "caseload") {
                        composable("caseload") {
                            CaseloadScreen(current, openCase = { nav.navigate("case/$it") }, newCase = { nav.navigate("new-case") },
                                sync = { nav.navigate("sync") }, settings = { nav.navigate("settings") },
                                review = { nav.navigate("review") }, alerts = { nav.navigate("alerts") },
                                report = { nav.navigate("report") }, openDraft = { nav.navigate(it) })
                        }
                        composable("new-case") {
                            NewCaseScreen(current) { id -> nav.popBackStack(); nav.navigate("case/$id") }
                        }
                        composable("review") { ReviewScreen(current) }
                        // From "Not finished": the sign-off screen with that draft's form open on its visit.
                        composable("review/{draft}") { entry -> ReviewScreen(current, entry.arguments?.getString("draft")) }
                        composable("case/{id}") { entry ->
                            val id = entry.arguments?.getString("id").orEmpty()
                            CaseScreen(current, id,
                                record = { nav.navigate("contact/$id") },
                                plan = { nav.navigate("plan/$id") },
                                concerns = { nav.navigate("concerns/$id") },
                                conflicts = { nav.navigate("conflicts/$id") },
                                go = { route -> nav.navigate("$route/$id") })
                        }
                        composable("${CaseRoutes.CHECK_IN}/{id}") { entry -> CheckInScreen(current, entry.arguments?.getString("id").orEmpty()) }
                        composable("${CaseRoutes.DANGERS}/{id}") { entry ->
                            DangerStatementsScreen(current, entry.arguments?.getString("id").orEmpty())
                        }
                        composable("${CaseRoutes.REFERRALS}/{id}") { entry -> ReferralsScreen(current, entry.arguments?.getString("id").orEmpty()) }
                        composable("${CaseRoutes.MEETINGS}/{id}") { entry -> MeetingsScreen(current, entry.arguments?.getString("id").orEmpty()) }
                        composable("${CaseRoutes.CONSENT}/{id}") { entry -> ConsentScreen(current, entry.arguments?.getString("id").orEmpty()) }
                        composable("${CaseRoutes.CLOSURE}/{id}") { entry ->
                            ClosureScreen(current, entry.arguments?.getString("id").orEmpty()) { nav.popBackStack() }
                        }
                        composable("alerts") { SafetyAlertsScreen(current) }
                        composable("report") { ReportScreen(current) }
                        composable("contact/{id}") { entry ->
                            ContactScreen(current, entry.arguments?.getString("id").orEmpty()) { nav.popBackStack() }
                        }
                        composable("plan/{id}") { entry ->
                            val id = entry.arguments?.getString("id").orEmpty()
                            PlanScreen(current, id, go = { route -> nav.navigate("$route/$id") })
                        }
                        composable("concerns/{id}") { entry -> ConcernsScreen(current, entry.arguments?.getString("id").orEmpty()) }
                        composable("conflicts/{id}") { entry ->
                            ConflictsScreen(current, entry.arguments?.getString("id").orEmpty())
                        }
                        composable("sync") { SyncScreen(current, enrol = { nav.navigate("enrol") }) }
                        composable("enrol") { EnrolScreen(current) { nav.popBackStack() } }
                        composable("settings") { SettingsScreen(current, keyStore, app.autoLock, lock = app::lock) }
                    }
                }
            }
        }
    }
}
