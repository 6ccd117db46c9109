"""Without scikit-learn (not a dependency), detectors keep its parameter protocol."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_detectors_work_and_keep_the_parameter_protocol_without_scikit_learn():
    script = textwrap.dedent(
        """
        import sys
        sys.modules["sklearn"] = None  # any import of scikit-learn now fails
        import numpy as np
        import pynomaly
        from pynomaly import IForest, Ensemble, NotFittedError
        from pynomaly._params import ParamsMixin

        assert pynomaly._base._HAVE_SKLEARN is False and issubclass(IForest, ParamsMixin)
        d = IForest(n_estimators=20, contamination=0.05)
        assert d.get_params()["n_estimators"] == 20 and d.get_params()["max_samples"] == "auto"
        assert repr(d) == "IForest(contamination=0.05, n_estimators=20)", repr(d)
        copy = type(d)(**d.get_params(deep=False))
        assert copy.get_params() == d.get_params()
        assert d.set_params(n_estimators=30) is d and d.n_estimators == 30
        try:
            d.set_params(trees=3)
            raise SystemExit("an unknown parameter was accepted")
        except ValueError as e:
            assert "Invalid parameter 'trees'" in str(e)
        nested = Ensemble(members=[IForest(n_estimators=5), "ecod"])
        assert "members" in nested.get_params()
        try:
            IForest().predict(np.zeros((3, 2)))
            raise SystemExit("an unfitted detector predicted")
        except NotFittedError as e:
            assert isinstance(e, ValueError) and isinstance(e, AttributeError)
        X = np.random.default_rng(0).normal(size=(300, 3))
        X[0] = 8
        fitted = d.fit(X)
        assert fitted.labels_[0] == 1 and fitted.labels_.sum() == 15
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
