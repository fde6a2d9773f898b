# One training run per job. The checkpoint lives outside the declared outputs so that
# Snakemake's clean-up of an interrupted job keeps it and the rerun resumes from it.


rule train:
    input:
        unpack(run_inputs),
    output:
        metrics=paths.metrics("{scale}", "{run_id}"),
        history=paths.history("{scale}", "{run_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "train", "{run_id}"),
    # Cluster profiles bundle many short runs into one job (profiles/slurm). A run on a
    # set cover waits for its source run's extract and cluster jobs, so it bundles apart.
    group:
        lambda wildcards: "train-on-cover" if PIPELINE.run(wildcards.scale, wildcards.run_id).get("clustering") else "train-bundle"
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(config["device"]),
        mem_mb=8000,
        runtime=lambda wildcards: TRAIN_RUNTIME[wildcards.scale],
    # A change of params reruns a finished job: the run, the code it runs (JOB_CODE) and the device
    # config's `device` resolves to here. Settings that cannot change a number (device spelled another
    # way, progress) reach the job through its environment (robustrepro.jobenv.expose_settings).
    params:
        run=lambda wildcards: json.dumps(PIPELINE.run(wildcards.scale, wildcards.run_id), sort_keys=True),
        code=JOB_CODE["train"],
        device_kind=DEVICE_KIND,
        checkpoint=paths.checkpoint("{scale}", "{run_id}"),
        out=paths.run_dir("{scale}", "{run_id}"),
        flags=lambda wildcards, input: (
            recipe_flags(config) + (["--clustering", input.clustering] if input.clustering else [])
        ),
    shell:
        "python -m robustrepro train --run {params.run:q} --data {input.data:q} --view {input.view:q} "
        "--out {params.out:q} --checkpoint {params.checkpoint:q} "
        "--threads {threads} {params.flags:q} > {log:q} 2>&1"


# A pack: the runs of one grid point that differ only in seed and lr, trained side by side in one
# job (robustrepro.training.pack). Each run still gets its own folder, outputs and checkpoint, as
# rule train writes them; the job's declared output is the pack's record, which stands for its
# runs in the rules that read them (Pipeline.finished_file). Packs bundle on a cluster like runs.
rule train_pack:
    input:
        unpack(pack_inputs),
    output:
        paths.pack_record("{scale}", "{pack_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "train", "{pack_id}"),
    group:
        "train-bundle"
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(config["device"]),
        mem_mb=8000,
        # Its runs train together: a pack may take as long as its runs one after another.
        runtime=lambda wildcards: TRAIN_RUNTIME[wildcards.scale] * len(PIPELINE.pack(wildcards.scale, wildcards.pack_id)),
    params:
        runs=lambda wildcards: json.dumps(PIPELINE.pack(wildcards.scale, wildcards.pack_id), sort_keys=True),
        code=JOB_CODE["train"],
        device_kind=DEVICE_KIND,
        runs_root=paths.runs_root("{scale}"),
        checkpoints=paths.checkpoints_root("{scale}"),
        recipe=recipe_flags(config),
    shell:
        "python -m robustrepro train-pack --runs {params.runs:q} --data {input.data:q} --view {input.view:q} "
        "--runs-root {params.runs_root:q} --checkpoints {params.checkpoints:q} --record {output:q} "
        "--threads {threads} {params.recipe:q} > {log:q} 2>&1"
