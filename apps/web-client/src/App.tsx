import { useEffect, useState } from 'react';
import { fetchGlobalModel, type GlobalModelInfo } from './model-client';

type State = { status: 'loading' } | { status: 'ready'; model: GlobalModelInfo } | { status: 'error'; message: string };

export function App() {
  const [state, setState] = useState<State>({ status: 'loading' });
  useEffect(() => {
    fetchGlobalModel(window.location.origin).then(
      (model) => setState({ status: 'ready', model }),
      (error: Error) => setState({ status: 'error', message: error.message }),
    );
  }, []);
  return (
    <main>
      <h1>Murmur</h1>
      <p>Next-word suggestions learned on your device; your text never leaves it.</p>
      {state.status === 'loading' && <p>Loading the global model…</p>}
      {state.status === 'error' && <p role="alert">Could not load the global model: {state.message}</p>}
      {state.status === 'ready' && (
        <p data-testid="model-info">
          Global model v{state.model.version}: {state.model.spec.architecture.toUpperCase()}, {state.model.parameters.toLocaleString()} parameters
          (hash {state.model.hash.slice(0, 12)}).
        </p>
      )}
    </main>
  );
}
