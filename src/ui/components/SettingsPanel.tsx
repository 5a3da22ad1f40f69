import { useEffect, useId, useState } from 'react';
import { describeRunShape, runShape } from '../../core/plan';
import { PRESETS, PRESET_IDS } from '../../formats/run-settings';
import type { StudioSettings } from '../../worker/protocol';
import { useRuntime, useStudio } from '../context';
import {
  BACKEND_SIZED, type SettingKey, type SettingSpec, SETTING_SPECS, crossCheck, formatSetting, parseSetting, presetMatching, resolveSettings, sizingFor,
} from '../settings';
import { isRunning, layersOf, recommendedFor } from '../store';

export function SettingsPanel() {
  const runtime = useRuntime();
  const backend = useStudio((s) => s.backend);
  const running = useStudio(isRunning);
  const settings = useStudio((s) => s.settings);
  const preset = useStudio((s) => s.preset);
  const urlProblems = useStudio((s) => s.urlProblems);
  const recommended = useStudio(recommendedFor);
  const planCost = useStudio((s) => s.planCost);
  const state = useStudio((s) => s);
  const suggested = resolveSettings(settings, state.explicit.filter((k) => !BACKEND_SIZED.includes(k)), layersOf(state));
  const sized = BACKEND_SIZED.some((k) => suggested[k] !== settings[k]);
  const sizing = sizingFor(backend);
  const warnings = crossCheck(settings);
  // what these settings take here, from the timed steps of this teacher (core/plan.ts)
  const shape = planCost ? runShape(planCost.cost, planCost.limit, settings) : null;
  const matching = presetMatching(settings);
  return (
    <section className="panel" aria-labelledby="settings-heading">
      <h2 id="settings-heading">Settings</h2>
      <div className="presets" role="group" aria-label="Preset">
        {PRESET_IDS.map((id) => (
          <button key={id} type="button" aria-pressed={preset === id} disabled={running} title={PRESETS[id].hint}
            onClick={() => runtime.store.getState().setPreset(id)}>{PRESETS[id].label}</button>
        ))}
      </div>
      <p className="hint">
        {PRESETS[preset].hint}{matching === null ? ' Some values are changed by hand.' : ''} Batch and steps suit the backend
        {recommended || planCost ? ' and the teacher' : ''}; the URL keeps what you set.
      </p>
      <div className="settings-grid">
        {SETTING_SPECS.map((spec) => (
          <SettingField key={spec.key} spec={spec} value={settings[spec.key]} disabled={running} />
        ))}
      </div>
      <p className="hint">
        {recommended ? 'For this teacher' : planCost ? `For this teacher on ${planCost.cost.backend}, about 10 minutes` : `For ${sizing.why}`}: batch {suggested.batch}, {suggested.steps} steps, evaluate every {suggested.evalEvery}.
        {sized ? (
          <>{' '}<button type="button" className="link" disabled={running} onClick={() => runtime.store.getState().resetSizing()}>Use these</button></>
        ) : null}
      </p>
      {shape ? (
        <p className="hint" data-testid="run-plan" title={`memory limit: ${shape.limit.why}`}>Here this run takes: {describeRunShape(shape)}.</p>
      ) : null}
      {shape?.warning ? <p className="warn" data-testid="plan-warning">{shape.warning.charAt(0).toUpperCase() + shape.warning.slice(1)}.</p> : null}
      {warnings.map((w) => <p key={w} className="warn">{w}</p>)}
      {urlProblems.map((w) => <p key={w} className="warn" role="status">{w}</p>)}
    </section>
  );
}

function SettingField({ spec, value, disabled }: { spec: SettingSpec; value: StudioSettings[SettingKey]; disabled: boolean }) {
  const runtime = useRuntime();
  const error = useStudio((s) => s.fieldErrors[spec.key]);
  const [draft, setDraft] = useState(formatSetting(spec.key, value));
  const id = useId();
  // Follow the store when it changes from elsewhere (backend sizing, a reset), unless the text is being fixed.
  useEffect(() => {
    if (!error) setDraft(formatSetting(spec.key, value));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const commit = (text: string) => {
    setDraft(text);
    const parsed = parseSetting(spec.key, text);
    const st = runtime.store.getState();
    if (parsed.ok) {
      st.setFieldError(spec.key, null);
      if (parsed.value !== st.settings[spec.key]) st.setSetting(spec.key, parsed.value);
    } else {
      st.setFieldError(spec.key, parsed.error);
    }
  };
  return (
    <div className="field">
      <label htmlFor={id}>{spec.label}</label>
      {spec.kind === 'choice' ? (
        <select id={id} value={draft} disabled={disabled} aria-describedby={`${id}-hint`} onChange={(e) => commit(e.target.value)}>
          {spec.options.map((o) => <option key={o} value={o}>{o}</option>)}
        </select>
      ) : (
        <input id={id} type="text" inputMode={spec.kind === 'int' ? 'numeric' : 'decimal'} value={draft} disabled={disabled}
          aria-invalid={error ? true : undefined} aria-describedby={`${id}-hint${error ? ` ${id}-err` : ''}`}
          onChange={(e) => commit(e.target.value)} spellCheck={false} autoComplete="off" />
      )}
      <small id={`${id}-hint`} className="hint">{spec.hint}</small>
      {error ? <small id={`${id}-err`} className="error" role="alert">{error}</small> : null}
    </div>
  );
}
