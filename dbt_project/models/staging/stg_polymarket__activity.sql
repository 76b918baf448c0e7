{#-
    Activity rows of the wallets whose activity is read. For SPLIT and MERGE the shares
    moved per outcome are the record's size, or its USD amount when the record carries
    no size (/v2 rows): a complete set is minted from, and burnt for, exactly 1 USD.
-#}

with source as (

    select * from {{ source('polymarket', 'activity') }}

),

renamed as (

    select
        activity_key,
        type as activity_type,
        proxy_wallet as wallet_address,
        {{ id_key_columns(wallet='proxy_wallet') }},
        condition_id,
        token_id,
        outcome_index,
        case
            when type in ('SPLIT', 'MERGE') then coalesce(size, usdc_size)
            else size
        end as shares,
        usdc_size as usdc_amount,
        side,
        price,
        timestamp as occurred_at_unix,
        {{ unix_to_timestamp('timestamp') }} as occurred_at,
        partition_day as activity_date,
        transaction_hash,
        title as market_title,
        event_slug,
        source_shape,
        ingested_at

    from source

)

select * from renamed
