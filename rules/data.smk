# Raw files → verified manifest → one prepared uint8 .npz per dataset.


rule download:
    output:
        "resources/downloads/{dataset}.json",
    conda:
        ENV
    log:
        "resources/logs/download/{dataset}.log",
    localrule: True
    params:
        args=fetch_args(),
        progress="" if config.get("progress", True) else "--no-progress",
    shell:
        "python -m robustrepro fetch --dataset {wildcards.dataset:q} {params.args:q} {params.progress} "
        "--manifest {output:q} > {log:q} 2>&1"


rule prepare:
    input:
        manifest_of,
    output:
        npz=f"{PREPARED}/{{dataset}}.npz",
        # Its size and sha256 (robustrepro.data.prepared), checked when the npz is loaded.
        record=f"{PREPARED}/{{dataset}}.npz{rr_prepared.RECORD_SUFFIX}",
    conda:
        ENV
    log:
        "resources/logs/prepare/{dataset}.log",
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        manifest=lambda wildcards, input: ["--manifest", input[0]] if input else [],
    shell:
        "python -m robustrepro prepare --dataset {wildcards.dataset:q} {params.manifest:q} "
        "--out {output.npz:q} > {log:q} 2>&1"
