import { createContext, useContext, useSyncExternalStore } from 'react';
import type { MurmurRuntime, RuntimeState } from '../runtime';

export const RuntimeContext = createContext<MurmurRuntime | null>(null);

export function useRuntime(): { runtime: MurmurRuntime; state: RuntimeState } {
  const runtime = useContext(RuntimeContext);
  if (!runtime) throw new Error('useRuntime: no <RuntimeContext.Provider> above this component');
  const state = useSyncExternalStore(runtime.subscribe, runtime.getState);
  return { runtime, state };
}
