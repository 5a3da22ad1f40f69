import { BackendBadge, BackendSelect } from './components/BackendBar';
import { LiveCharts } from './components/LiveCharts';
import { RunPanel } from './components/RunPanel';
import { SavedRunBanner } from './components/SavedRunBanner';
import { SampleView } from './components/SampleView';
import { SettingsPanel } from './components/SettingsPanel';
import { StudentPanel } from './components/StudentPanel';
import { TeacherPanel } from './components/TeacherPanel';

export function App() {
  return (
    <div className="app">
      <header className="top">
        <div>
          <h1>PID Studio</h1>
          <p className="tagline">Physics Informed Distillation of a diffusion teacher into a one-step student, trained in your browser.</p>
        </div>
        <div className="top-right">
          <BackendBadge />
          <BackendSelect />
        </div>
      </header>
      <main className="layout">
        <aside className="side">
          <TeacherPanel />
          <SettingsPanel />
        </aside>
        <div className="content">
          <SavedRunBanner />
          <RunPanel />
          <LiveCharts />
          <SampleView />
          <StudentPanel />
        </div>
      </main>
      <footer className="foot">
        Method: Tee et al., “Physics Informed Distillation for Diffusion Models”, TMLR 2024. Everything runs on this
        machine; nothing is uploaded.
      </footer>
    </div>
  );
}
