"""Bridges to other evaluation tools: lm-evaluation-harness tasks run through kateval (`lmeval_task`), kateval runs
written in lm-eval's output layout (`lmeval_export`), and lm-eval / evalplus sample files read by `kateval score`
(`foreign_samples`). Each imports lm_eval only when used."""
