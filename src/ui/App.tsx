import { BackendBadge, BackendSelect } from './components/BackendBar';
import { LiveCharts } from './components/LiveCharts';
import { RunPanel } from './components/RunPanel';
import { SavedRunBanner } from './components/SavedRunBanner';
import { SampleView } from './components/SampleView';
import { SettingsPanel } from './components/SettingsPanel';
import { StudentPanel } from './components/StudentPanel';
import { SweepPanel } from './components/SweepPanel';
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
      {/* On a narrow screen the columns become one, in slot order: the run controls first, near the top; the sweep last. */}
      <main className="layout">
        <aside className="side">
          <div className="slot slot-teacher"><TeacherPanel /></div>
          <div className="slot slot-settings"><SettingsPanel /></div>
        </aside>
        <div className="content">
          <div className="slot slot-saved"><SavedRunBanner /></div>
          <div className="slot slot-run"><RunPanel /></div>
          <div className="slot slot-live"><LiveCharts /></div>
          <div className="slot slot-samples"><SampleView /></div>
          <div className="slot slot-student"><StudentPanel /></div>
          <div className="slot slot-sweep"><SweepPanel /></div>
        </div>
      </main>
      <footer className="foot">
        Method: Tee et al., “Physics Informed Distillation for Diffusion Models”, TMLR 2024. Everything runs on this
        machine; nothing is uploaded.
      </footer>
    </div>
  );
}
