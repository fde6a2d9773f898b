# Raw files → verified manifest → one prepared uint8 .npz per dataset.


rule download:
    output:
        paths.download_manifest("{dataset}"),
    conda:
        ENV
    log:
        paths.resource_log("download", "{dataset}"),
    localrule: True
    params:
        args=rr_config.fetch_args(config["data"]),
    shell:
        "python -m robustrepro fetch --dataset {wildcards.dataset:q} {params.args:q} "
        "--manifest {output:q} > {log:q} 2>&1"


rule prepare:
    input:
        prepare_inputs,
    output:
        npz=paths.prepared(PREPARED, "{dataset}"),
        # Its size and sha256 (robustrepro.data.prepared), checked when the npz is loaded.
        record=paths.prepared(PREPARED, "{dataset}") + rr_prepared.RECORD_SUFFIX,
    conda:
        ENV
    log:
        paths.resource_log("prepare", "{dataset}"),
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        manifest=lambda wildcards, input: ["--manifest", input[0]] if input else [],
    shell:
        "python -m robustrepro prepare --dataset {wildcards.dataset:q} {params.manifest:q} "
        "--out {output.npz:q} > {log:q} 2>&1"
