"""Chinese headers: a column's label is its path's segment labels joined (``payment.company.code`` →
支付企业代码); the few whole paths whose joined label reads badly or repeats another are given outright.
A goods-line column whose label is also an order column's gets 商品 in front (``lines.note`` → 商品备注)."""
from __future__ import annotations

SEGMENTS = {
    # order
    "order_no": "订单编号", "client_ref": "客户编号", "regime": "监管方式", "direction": "进出口标志",
    "statistics_flag": "统计方式", "ordered_at": "下单时间", "export_date": "出口日期",
    "customs_code": "申报海关", "port_code": "口岸海关", "supervision_site": "监管场所", "license_no": "许可证号",
    "platform": "电商平台", "merchant": "电商企业", "owner": "货主", "declarant": "申报企业", "guarantor": "担保企业",
    "code": "代码", "name": "名称", "currency": "币制", "goods_value": "商品价格", "discount": "优惠减免",
    "tax_withheld": "代扣税款", "actual_paid": "实际支付", "payment": "支付", "company": "企业",
    "transaction_no": "交易编号", "amount": "金额", "paid_at": "支付时间", "received_at": "收款时间",
    "payer": "支付人", "id_type": "证件类型", "id_number": "证件号码", "telephone": "电话",
    "logistics": "物流", "waybill_no": "运单编号", "freight": "运费", "insurance": "保费",
    "gross_weight": "毛重", "net_weight": "净重", "packages": "件数", "transport_mode": "运输方式",
    "conveyance_no": "运输工具编号", "conveyance_name": "运输工具名称", "voyage_no": "航班航次号",
    "bill_no": "提运单号", "shipping_country": "起运国", "wrap_type": "包装种类", "goods_info": "主要货物信息",
    "destination_country": "目的国", "destination_port": "目的港", "total_package_no": "总包号",
    "domestic_conveyance_no": "境内运输工具编号", "buyer": "订购人", "registration_no": "注册号",
    "consignee": "收件人", "address": "地址", "district": "行政区划", "bonded": "保税",
    "account_book_no": "账册编号", "area": "区内企业", "batch_numbers": "批次号列表", "note": "备注",
    "special_zone": "特殊区域", "enterprise": "企业", "summary": "汇总申报", "declaration_agent": "申报代理",
    "by_owner": "货主自报", "arrival": "运抵", "operator": "操作人", "departure": "离境",
    "left_at": "离境时间", "bill_list": "清单总分单",
    # general trade
    "declaration_office": "申报地海关", "port_office": "进出境关别", "destination_office": "目的地海关",
    "entry_port": "入境口岸", "goods_place": "货物存放地点", "ie_date": "进出口日期", "trader": "境内收发货人",
    "scc": "统一社会信用代码", "ciq_code": "检验检疫编码", "overseas_party": "境外收发货人",
    "ic_card": "IC卡号", "certificate": "证件号", "transport": "运输", "mode": "方式", "conveyance": "运输工具",
    "departure_port": "启运港", "departure_date": "启运日期", "trade_country": "贸易国", "terms": "成交方式",
    "mark": "标记", "value": "值", "other_charges": "杂费", "price_declaration": "价格说明",
    "special_relationship": "特殊关系确认", "price_influence": "价格影响确认", "royalties": "支付特许权使用费确认",
    "formula_pricing": "公式定价确认", "provisional_price": "暂定价格确认", "levy_nature": "征免性质",
    "other_packs": "其他包装", "contract_no": "合同协议号", "marks": "标记唛码",
    "licence_documents": "随附单证", "qualifications": "企业资质", "containers": "集装箱",
    "requested_certificates": "申请单证", "attachments": "随附单据",
    # goods lines
    "lines": "", "item_no": "企业商品货号", "item_record_no": "商品备案号", "hs_code": "商品编码",
    "spec": "规格型号", "description": "商品描述", "barcode": "条形码", "origin_country": "原产国",
    "final_destination_country": "最终目的国", "quantity": "数量", "unit": "单位", "unit_price": "单价",
    "total_price": "总价", "legal_quantity": "法定数量", "legal_unit": "法定单位", "second_quantity": "第二数量",
    "second_unit": "第二单位", "inspection": "检验检疫", "producer_registration": "生产企业注册号",
    "batch_no": "生产批号", "production_date": "生产日期", "expiry_date": "到期日期", "licence_no": "许可证编号",
    "ccc_certificate": "CCC证书编号", "quarantine_permit_no": "检疫审批单号", "origin_region": "原产地区",
    "purpose": "用途", "ciq_name": "检验检疫名称", "spec_elements": "申报要素", "duty_mode": "征免方式",
    "destination_code": "目的地代码", "regulatory_conditions": "监管条件", "inspection_categories": "检验检疫类别",
    "goods_attributes": "货物属性", "english_name": "英文名称", "goods_spec": "货物规格", "goods_model": "货物型号",
    "brand": "品牌", "production_dates": "生产日期列表", "valid_until": "有效期", "shelf_life": "保质期",
    "ingredients": "成分", "manufacturer": "生产商", "producer_registration_no": "生产单位注册号",
    "producer_registration_name": "生产单位名称", "dangerous": "危险货物", "un_code": "UN编码",
    "pack_type": "包装类别", "pack_spec": "包装规格", "not_dangerous": "非危险化学品", "product_licences": "产品资质",
}

WHOLE = {                       # whole paths whose joined label would read badly
    "lines.name": "商品名称",
    "lines.currency": "商品币制",
}


def label(key: str) -> str:
    """The Chinese header of a column key (``payment.company.code``); KeyError for an unknown segment."""
    if key in WHOLE:
        return WHOLE[key]
    return "".join(SEGMENTS[part] for part in key.split("."))
