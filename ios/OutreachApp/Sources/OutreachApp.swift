import BackgroundTasks
import OutreachFFI
import OutreachKit
import SwiftUI

/// The SwiftUI app: screens over OutreachKit's stores. Data protection is
/// "complete" (entitlements), the app switcher shows a privacy cover instead
/// of case content, and the vault locks after the background timeout.
@main
struct OutreachApp: App {
    @StateObject private var app = AppStore.shared
    @Environment(\.scenePhase) private var phase

    init() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: AppStore.syncTask, using: nil) { task in
            Task { @MainActor in
                // Runs only while the vault is unlocked: a locked vault has no keys.
                await AppStore.shared.runBackgroundSync()
                task.setTaskCompleted(success: true)
            }
        }
    }

    var body: some Scene {
        WindowGroup {
            ZStack {
                RootView().environmentObject(app)
                if phase != .active { PrivacyCover() }
            }
        }
        .onChange(of: phase) { newPhase in
            switch newPhase {
            case .background:
                app.didEnterBackground()
                app.scheduleBackgroundSync()
            case .active:
                app.willEnterForeground()
            default:
                break
            }
        }
    }
}

/// Shown over everything when the app is not active, so the app switcher
/// snapshot never holds case content.
struct PrivacyCover: View {
    var body: some View {
        ZStack {
            Color(.systemBackground).ignoresSafeArea()
            Label(tr("app_name"), systemImage: "lock.fill").font(.title)
        }
    }
}

struct RootView: View {
    @EnvironmentObject var app: AppStore

    var body: some View {
        if let vault = app.vault {
            NavigationStack {
                CaseloadView(store: CaseloadStore(vault: vault), vault: vault)
            }
        } else if app.hasVault {
            UnlockView()
        } else {
            CreateVaultView()
        }
    }
}
