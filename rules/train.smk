# One training run per job. The checkpoint lives outside the declared outputs so that
# Snakemake's clean-up of an interrupted job keeps it and the rerun resumes from it.


rule train:
    input:
        data=one_line_errors(lambda wildcards: prepared_path(lookup_run(wildcards)["dataset"])),
        view=one_line_errors(lambda wildcards: f"results/{wildcards.scale}/views/{view_id(lookup_run(wildcards))}.npz"),
        clustering=clustering_of,
    output:
        metrics="results/{scale}/runs/{run_id}/metrics.json",
        history="results/{scale}/runs/{run_id}/history.csv",
    conda:
        ENV
    log:
        "results/{scale}/logs/train/{run_id}.log",
    # Cluster profiles bundle many short runs into one job (workflow/profiles/slurm). A run on a
    # set cover waits for its source run's extract and cluster jobs, so it bundles apart.
    group:
        lambda wildcards: "train-on-cover" if lookup_run(wildcards).get("clustering") else "train-bundle"
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(),
        mem_mb=8000,
        runtime=lambda wildcards: TRAIN_RUNTIME[wildcards.scale],
    params:
        run=lambda wildcards: json.dumps(lookup_run(wildcards), sort_keys=True),
        checkpoint="results/{scale}/checkpoints/{run_id}.pt",
        device=config["device"],
        out="results/{scale}/runs/{run_id}",
        flags=lambda wildcards, input: (
            (["--compile"] if config.get("compile") else [])
            + ([] if config.get("progress", True) else ["--no-progress"])
            + (["--clustering", input.clustering] if input.clustering else [])
        ),
    shell:
        "python -m robustrepro train --run {params.run:q} --data {input.data:q} --view {input.view:q} "
        "--out {params.out:q} --checkpoint {params.checkpoint:q} "
        "--device {params.device:q} --threads {threads} {params.flags:q} > {log:q} 2>&1"


# A pack: the runs of one grid point that differ only in seed and lr, trained side by side in one
# job (robustrepro.training.pack). Each run still gets its own folder, outputs and checkpoint, as
# rule train writes them; the job's declared output is the pack's record, which stands for its
# runs in the rules that read them (metrics_path). Packs bundle on a cluster like single runs.
rule train_pack:
    input:
        data=one_line_errors(lambda wildcards: prepared_path(lookup_pack(wildcards)[0]["dataset"])),
        view=one_line_errors(lambda wildcards: f"results/{wildcards.scale}/views/{view_id(lookup_pack(wildcards)[0])}.npz"),
    output:
        "results/{scale}/packs/{pack_id}.json",
    conda:
        ENV
    log:
        "results/{scale}/logs/train/{pack_id}.log",
    group:
        "train-bundle"
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(),
        mem_mb=8000,
        # Its runs train together: a pack may take as long as its runs one after another.
        runtime=lambda wildcards: TRAIN_RUNTIME[wildcards.scale] * len(lookup_pack(wildcards)),
    params:
        runs=lambda wildcards: json.dumps(lookup_pack(wildcards), sort_keys=True),
        runs_root="results/{scale}/runs",
        checkpoints="results/{scale}/checkpoints",
        device=config["device"],
    shell:
        "python -m robustrepro train-pack --runs {params.runs:q} --data {input.data:q} --view {input.view:q} "
        "--runs-root {params.runs_root:q} --checkpoints {params.checkpoints:q} --record {output:q} "
        "--device {params.device:q} --threads {threads} > {log:q} 2>&1"
