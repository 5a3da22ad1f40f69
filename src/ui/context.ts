import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import type { StudioActions, StudioState } from './store';
import type { StudioRuntime } from './runtime';

export const RuntimeContext = createContext<StudioRuntime | null>(null);

export function useRuntime(): StudioRuntime {
  const r = useContext(RuntimeContext);
  if (!r) throw new Error('useRuntime outside <RuntimeContext.Provider>');
  return r;
}

export function useStudio<T>(selector: (s: StudioState & StudioActions) => T): T {
  return useStore(useRuntime().store, selector);
}
