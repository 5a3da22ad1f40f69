import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createStudioWorker } from './worker/client';
import { App } from './ui/App';
import { RuntimeContext } from './ui/context';
import { downloadBlob } from './ui/download';
import { StudioRuntime } from './ui/runtime';
import { createStudioStore } from './ui/store';
import { decodeUrlState } from './ui/url-state';
import './ui/styles.css';

const url = decodeUrlState(window.location.search);
const store = createStudioStore({
  backendChoice: url.backend, settings: url.settings, teacherId: url.teacher ?? null, urlProblems: url.problems, checkpointSeconds: url.checkpointSeconds ?? null,
  ...(url.preset ? { preset: url.preset } : {}),
});
const runtime = new StudioRuntime({
  store,
  makeWorker: createStudioWorker,
  siteUrl: (path) => new URL(path, document.baseURI).href,
  async fetchJson(u) {
    const res = await fetch(u);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.json();
  },
  download: downloadBlob,
  writeUrl: (query) => {
    const next = `${window.location.pathname}${query}${window.location.hash}`;
    if (next !== `${window.location.pathname}${window.location.search}${window.location.hash}`) window.history.replaceState(null, '', next);
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RuntimeContext.Provider value={runtime}>
      <App />
    </RuntimeContext.Provider>
  </StrictMode>,
);
void runtime.boot();
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden') runtime.pageHidden();
});
