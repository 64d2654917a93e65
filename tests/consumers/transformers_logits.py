#!/usr/bin/env python3
"""A real consumer of the checkpoints qlab writes: Hugging Face transformers loads each folder given
(with whatever quantization integration the machine has: compressed-tensors, gptqmodel / optimum,
autoawq, ModelOpt) and writes its float32 logits for a token-id file, to compare with `qlab logits` of
the same folder. A folder transformers cannot load is reported with the reason, not skipped silently.

    python3 tests/consumers/transformers_logits.py --tokens tokens.txt --out OUTDIR FOLDER ...

Writes OUTDIR/<folder name>.logits (float32 little-endian [n_tokens x vocab]) and OUTDIR/report.json:
{folder: {"loaded": bool, "error": str, "quantization": what transformers made of the config,
"linear_types": the classes of the model's first decoder layer's Linears}}. Needs torch and transformers.
"""
import argparse
import json
import os
import traceback

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("folders", nargs="+")
    a = ap.parse_args()
    import transformers
    ids = [int(t) for t in open(a.tokens).read().split()]
    os.makedirs(a.out, exist_ok=True)
    report = {"transformers": transformers.__version__, "torch": torch.__version__, "folders": {}}
    for folder in a.folders:
        name = os.path.basename(os.path.normpath(folder))
        entry = {"loaded": False}
        try:
            m = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
            m.eval()
            layer = m.model.layers[0]
            entry["linear_types"] = {n: type(mod).__name__ for n, mod in layer.named_modules() if n.endswith("proj")}
            qc = getattr(m.config, "quantization_config", None)
            entry["quantization"] = str(qc.to_dict() if hasattr(qc, "to_dict") else qc)[:400]
            with torch.no_grad():
                logits = m(torch.tensor([ids])).logits[0].float().contiguous()
            logits.numpy().astype("<f4").tofile(os.path.join(a.out, name + ".logits"))
            entry["loaded"] = True
            entry["shape"] = list(logits.shape)
        except Exception as e:  # the reason is the result
            entry["error"] = f"{type(e).__name__}: {e}"[:600]
            entry["trace"] = traceback.format_exc()[-1200:]
        report["folders"][name] = entry
        print(name, "loaded" if entry["loaded"] else entry["error"][:200], flush=True)
    json.dump(report, open(os.path.join(a.out, "report.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
